package builder

import (
	"sync"
	"time"

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
// A copy is told by its start time: BuildKit sends every job the same
// record of a shared vertex, while a step that only progress shows (an
// exporter, whose ID derives from the session's, so one digest for every
// solve) starts at its own time in each solve, and is kept in each. When
// the owning solve ends, the next one to report the vertex takes it over:
// a later solve that loads the same digest ran (or found cached) a vertex
// of its own, and shows it under its own prefix.
type sharedSteps struct {
	Progress
	mu    sync.Mutex
	owner map[digest.Digest]*shownStep
}

// shownStep is the stream that shows a vertex, and when the vertex started
// as that stream last reported it.
type shownStep struct {
	stream  *solveStream
	started *time.Time
}

// solveStream is one solve's status channel: the vertices it shows, and
// done once BuildKit closed it.
type solveStream struct {
	shows map[digest.Digest]bool
	done  bool
}

// shareSteps wraps p for the solves of one builder.
func shareSteps(p Progress) *sharedSteps {
	return &sharedSteps{Progress: p, owner: map[digest.Digest]*shownStep{}}
}

// Solve implements Progress: the channel it returns is forwarded to p's,
// without the vertices another solve of this builder shows.
func (s *sharedSteps) Solve(prefix string) chan *bkclient.SolveStatus {
	out := s.Progress.Solve(prefix)
	in := make(chan *bkclient.SolveStatus)
	me := &solveStream{shows: map[digest.Digest]bool{}}
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

// own returns the part of st that the stream me shows, or nil when
// nothing is left.
func (s *sharedSteps) own(me *solveStream, st *bkclient.SolveStatus) *bkclient.SolveStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &bkclient.SolveStatus{}
	for _, v := range st.Vertexes {
		if s.showsVertex(me, v) {
			out.Vertexes = append(out.Vertexes, v)
		}
	}
	for _, vs := range st.Statuses {
		if s.shows(me, vs.Vertex) {
			out.Statuses = append(out.Statuses, vs)
		}
	}
	for _, l := range st.Logs {
		if s.shows(me, l.Vertex) {
			out.Logs = append(out.Logs, l)
		}
	}
	for _, w := range st.Warnings {
		if s.shows(me, w.Vertex) {
			out.Warnings = append(out.Warnings, w)
		}
	}
	if len(out.Vertexes)+len(out.Statuses)+len(out.Logs)+len(out.Warnings) == 0 {
		return nil
	}
	return out
}

// showsVertex decides whether me shows v: yes if it does already, or if
// no live stream shows v's digest, or if the one that does reported
// another start (another execution under the same digest).
func (s *sharedSteps) showsVertex(me *solveStream, v *bkclient.Vertex) bool {
	o, ok := s.owner[v.Digest]
	switch {
	case me.shows[v.Digest]:
		if ok && o.stream == me && v.Started != nil {
			o.started = v.Started
		}
		return true
	case !ok || o.stream.done:
		s.owner[v.Digest] = &shownStep{stream: me, started: v.Started}
	case v.Started != nil && o.started != nil && !v.Started.Equal(*o.started):
	default:
		return false // a copy of the vertex another solve shows
	}
	me.shows[v.Digest] = true
	return true
}

// shows decides whether me shows a status, log or warning of the vertex
// d: if it shows the vertex, or if no live stream does.
func (s *sharedSteps) shows(me *solveStream, d digest.Digest) bool {
	if d == "" || me.shows[d] {
		return true
	}
	if o, ok := s.owner[d]; ok && !o.stream.done {
		return false
	}
	s.owner[d] = &shownStep{stream: me}
	me.shows[d] = true
	return true
}
