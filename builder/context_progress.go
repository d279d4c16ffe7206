package builder

import (
	"sync"

	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// sharedSteps is the Progress of one builder's solves: it shows once each
// step that they share.
//
// The solves of one builder run in one session, and BuildKit's solver
// runs a vertex that concurrent solves load with the same digest once,
// sending its progress to each of them. The local sources are such
// vertices: their LLB carries no platform, and the session ID, the
// .dockerignore patterns and the paths the Dockerfile copies are the same
// for every platform. So the build context, the Dockerfile and
// .dockerignore cross the wire once per builder, and a display that kept
// each solve's copy of them would show three transfers for one.
//
// A shared vertex belongs to the first solve that reports it; the others'
// copies of it (the vertex, its statuses, logs and warnings) are dropped.
// When that solve ends, the next one to report the vertex takes it over:
// a later solve that loads the same digest ran (or found cached) a vertex
// of its own, and shows it under its own prefix.
type sharedSteps struct {
	Progress
	mu    sync.Mutex
	owner map[digest.Digest]*solveStream
}

// solveStream is one solve's status channel; done once BuildKit closed it.
type solveStream struct{ done bool }

// shareSteps wraps p for the solves of one builder.
func shareSteps(p Progress) *sharedSteps {
	return &sharedSteps{Progress: p, owner: map[digest.Digest]*solveStream{}}
}

// Solve implements Progress: the channel it returns is forwarded to p's,
// without the vertices another solve of this builder shows.
func (s *sharedSteps) Solve(prefix string) chan *bkclient.SolveStatus {
	out := s.Progress.Solve(prefix)
	in := make(chan *bkclient.SolveStatus)
	me := &solveStream{}
	go func() {
		for st := range in {
			if st = s.own(me, st); st != nil {
				out <- st
			}
		}
		s.mu.Lock()
		me.done = true
		s.mu.Unlock()
		close(out)
	}()
	return in
}

// own returns the part of st that belongs to the stream me, or nil when
// nothing does. A vertex that no live stream holds becomes me's.
func (s *sharedSteps) own(me *solveStream, st *bkclient.SolveStatus) *bkclient.SolveStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	mine := func(d digest.Digest) bool {
		if d == "" {
			return true
		}
		o, ok := s.owner[d]
		if !ok || o.done {
			s.owner[d] = me
			return true
		}
		return o == me
	}
	out := &bkclient.SolveStatus{}
	for _, v := range st.Vertexes {
		if mine(v.Digest) {
			out.Vertexes = append(out.Vertexes, v)
		}
	}
	for _, vs := range st.Statuses {
		if mine(vs.Vertex) {
			out.Statuses = append(out.Statuses, vs)
		}
	}
	for _, l := range st.Logs {
		if mine(l.Vertex) {
			out.Logs = append(out.Logs, l)
		}
	}
	for _, w := range st.Warnings {
		if mine(w.Vertex) {
			out.Warnings = append(out.Warnings, w)
		}
	}
	if len(out.Vertexes)+len(out.Statuses)+len(out.Logs)+len(out.Warnings) == 0 {
		return nil
	}
	return out
}
