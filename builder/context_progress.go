package builder

import (
	"fmt"
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
// of its own, and shows it under its own prefix. Steps that only progress
// shows and whose digest BuildKit derives from the session ID (each
// solve's exporters and cache exporters: SESSION-export-0) have one digest
// in every solve but run in each: they are listed in perSolve and never
// shared. (A start time would not tell them apart: a vertex that
// --no-cache runs again starts twice.)
type sharedSteps struct {
	Progress
	perSolve map[digest.Digest]bool
	mu       sync.Mutex
	owner    map[digest.Digest]*solveStream
}

// solveStream is one solve's status channel: the vertices it shows, and
// done once BuildKit closed it.
type solveStream struct {
	shows map[digest.Digest]bool
	done  bool
}

// shareSteps wraps p for the solves of one builder, whose session has the
// ID sessionID.
func shareSteps(p Progress, sessionID string) *sharedSteps {
	s := &sharedSteps{Progress: p, perSolve: map[digest.Digest]bool{}, owner: map[digest.Digest]*solveStream{}}
	// BuildKit's llbsolver names them fmt.Sprint(sessionID, "-export-", i)
	// and "-cache-"; BuildKit before v0.9 (a Docker 20.10 daemon's)
	// sessionID+"-export" and "-cache".
	for _, kind := range []string{"-export", "-cache"} {
		s.perSolve[digest.FromString(sessionID+kind)] = true
		for i := range 8 {
			s.perSolve[digest.FromString(fmt.Sprint(sessionID, kind, "-", i))] = true
		}
	}
	return s
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
		if s.shows(me, v.Digest) {
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

// shows decides whether me shows what concerns the vertex d: yes if it
// does already, if d runs in each solve, or if no live stream shows d.
func (s *sharedSteps) shows(me *solveStream, d digest.Digest) bool {
	if d == "" || me.shows[d] || s.perSolve[d] {
		return true
	}
	if o, ok := s.owner[d]; ok && !o.done {
		return false // a copy of the vertex another solve shows
	}
	s.owner[d] = me
	me.shows[d] = true
	return true
}
