package builder

import (
	"sync"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// recorder is a Progress that keeps what each prefix's channel received;
// closed[prefix] is closed once that channel was closed and drained.
type recorder struct {
	mu     sync.Mutex
	got    map[string][]*bkclient.SolveStatus
	closed map[string]chan struct{}
}

func newRecorder() *recorder {
	return &recorder{got: map[string][]*bkclient.SolveStatus{}, closed: map[string]chan struct{}{}}
}

func (r *recorder) Solve(prefix string) chan *bkclient.SolveStatus {
	ch := make(chan *bkclient.SolveStatus)
	done := make(chan struct{})
	r.mu.Lock()
	r.closed[prefix] = done
	r.mu.Unlock()
	go func() {
		defer close(done)
		for s := range ch {
			r.mu.Lock()
			r.got[prefix] = append(r.got[prefix], s)
			r.mu.Unlock()
		}
	}()
	return ch
}

// end closes ch, the channel of prefix, and waits until the recorder saw
// it closed: every status sent before was handled.
func (r *recorder) end(prefix string, ch chan *bkclient.SolveStatus) {
	r.mu.Lock()
	done := r.closed[prefix]
	r.mu.Unlock()
	close(ch)
	<-done
}

func (r *recorder) Step(string) func(error) { return func(error) {} }

// vertices lists the vertex, status and log digests prefix received.
func (r *recorder) vertices(prefix string) (vs, sts, logs []digest.Digest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.got[prefix] {
		for _, v := range s.Vertexes {
			vs = append(vs, v.Digest)
		}
		for _, st := range s.Statuses {
			sts = append(sts, st.Vertex)
		}
		for _, l := range s.Logs {
			logs = append(logs, l.Vertex)
		}
	}
	return vs, sts, logs
}

func status(d digest.Digest) *bkclient.SolveStatus {
	return &bkclient.SolveStatus{
		Vertexes: []*bkclient.Vertex{{Digest: d, Name: "step"}},
		Statuses: []*bkclient.VertexStatus{{Vertex: d, ID: "transferring context:"}},
		Logs:     []*bkclient.VertexLog{{Vertex: d, Data: []byte("x")}},
	}
}

func TestSharedStepsShowAVertexOfSeveralSolvesOnce(t *testing.T) {
	rec := newRecorder()
	p := shareSteps(rec, "sess")
	context := digest.FromString("load build context")
	amd64, arm64 := digest.FromString("amd64 RUN"), digest.FromString("arm64 RUN")

	a, b := p.Solve("linux/amd64"), p.Solve("linux/arm64")
	a <- status(context)
	b <- status(context) // the solver sent the shared vertex to both solves
	a <- status(amd64)
	b <- status(arm64)
	a <- status(context) // its completion, to both
	b <- status(context)
	rec.end("linux/arm64", b)
	rec.end("linux/amd64", a)

	for _, c := range []struct {
		prefix string
		want   []digest.Digest
	}{
		{"linux/amd64", []digest.Digest{context, amd64, context}},
		{"linux/arm64", []digest.Digest{arm64}},
	} {
		vs, sts, logs := rec.vertices(c.prefix)
		for name, got := range map[string][]digest.Digest{"vertices": vs, "statuses": sts, "logs": logs} {
			if len(got) != len(c.want) {
				t.Errorf("%s received %s %v, want %v", c.prefix, name, got, c.want)
				continue
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("%s received %s %v, want %v", c.prefix, name, got, c.want)
					break
				}
			}
		}
	}
}

// A solve that reports a vertex after the solve that showed it ended ran
// (or found cached) a vertex of its own: it is shown.
func TestSharedStepsHandOverAVertexWhenItsSolveEnds(t *testing.T) {
	rec := newRecorder()
	p := shareSteps(rec, "sess")
	context := digest.FromString("load build context")

	a := p.Solve("linux/amd64")
	a <- status(context)
	rec.end("linux/amd64", a)
	b := p.Solve("linux/arm64")
	b <- status(context)
	rec.end("linux/arm64", b)
	if vs, _, _ := rec.vertices("linux/arm64"); len(vs) != 1 {
		t.Errorf("the second solve, alone with the vertex, received %v: want it shown", vs)
	}
}

// An exporter's vertex has one digest in every solve of a session (its ID
// is the session's) but runs in each: each shows its own. A shared vertex
// is shown once, also when --no-cache starts it a second time.
func TestSharedStepsShowEachSolvesExporter(t *testing.T) {
	rec := newRecorder()
	p := shareSteps(rec, "sess")
	export, context := digest.FromString("sess-export-0"), digest.FromString("load build context")
	t0 := time.Now()
	t1 := t0.Add(time.Millisecond)
	started := func(d digest.Digest, at time.Time) *bkclient.SolveStatus {
		s := status(d)
		s.Vertexes[0].Started = &at
		return s
	}
	a, b := p.Solve("linux/amd64"), p.Solve("linux/arm64")
	a <- started(context, t0)
	b <- started(context, t0)
	b <- started(context, t1) // restarted: b gets the new record first
	a <- started(context, t1)
	a <- started(export, t0)
	b <- started(export, t1)
	rec.end("linux/arm64", b)
	rec.end("linux/amd64", a)
	if vs, sts, _ := rec.vertices("linux/arm64"); len(vs) != 1 || vs[0] != export || len(sts) != 1 {
		t.Errorf("arm64 received vertices %v and statuses %v: want its own export only, not the shared context", vs, sts)
	}
	if vs, _, _ := rec.vertices("linux/amd64"); len(vs) != 3 || vs[2] != export {
		t.Errorf("amd64 received vertices %v: want the context twice and its export", vs)
	}
}
