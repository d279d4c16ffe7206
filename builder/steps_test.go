package builder

import (
	"context"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// dockerfileLike is the LLB of a two-stage Dockerfile: a RUN in a stage on
// the build platform (amd64) and a RUN in the arm64 target's stage, each
// mapped to its Dockerfile line, as the frontend marshals them.
func dockerfileLike(t *testing.T) *pb.Definition {
	t.Helper()
	amd64 := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	sm := llb.NewSourceMap(nil, "Dockerfile", "Dockerfile", []byte("FROM a\nRUN go build\nFROM b\nRUN apk add\n"))
	at := func(line int32) llb.ConstraintsOpt {
		return sm.Location([]*pb.Range{{Start: &pb.Position{Line: line}, End: &pb.Position{Line: line}}})
	}
	build := llb.Image("golang", llb.Platform(amd64)).
		Run(llb.Shlex("go build"), llb.WithCustomName("[linux/amd64->arm64 build 2/2] RUN go build"), at(2)).Root()
	final := llb.Image("alpine", llb.Platform(arm64)).
		Run(llb.Shlex("apk add"), llb.WithCustomName("[stage-1 2/3] RUN apk add"), at(4)).Root().
		File(llb.Copy(build, "/out", "/out"))
	def, err := final.Marshal(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return def.ToPB()
}

func TestExecStepsReadPlatformNameAndLineFromTheLLB(t *testing.T) {
	steps := map[digest.Digest]Step{}
	execSteps(dockerfileLike(t), steps)
	if len(steps) != 2 {
		t.Fatalf("found %d exec steps, want the 2 RUNs: %+v", len(steps), steps)
	}
	want := map[string]struct {
		arch string
		line int
	}{
		"[linux/amd64->arm64 build 2/2] RUN go build": {"amd64", 2},
		"[stage-1 2/3] RUN apk add":                   {"arm64", 4},
	}
	for _, s := range steps {
		w, ok := want[s.Name]
		if !ok {
			t.Errorf("unexpected step %+v", s)
			continue
		}
		if s.Platform.Architecture != w.arch || s.Line != w.line || s.File != "Dockerfile" {
			t.Errorf("%s: on %s at %s:%d, want %s at Dockerfile:%d", s.Name, s.Platform.Architecture, s.File, s.Line, w.arch, w.line)
		}
	}
}

func TestStepClockTimesStepsThatRanAndNotCacheHits(t *testing.T) {
	steps := map[digest.Digest]Step{}
	execSteps(dockerfileLike(t), steps)
	var goBuild, apkAdd digest.Digest
	for d, s := range steps {
		if s.Platform.Architecture == "amd64" {
			goBuild = d
		} else {
			apkAdd = d
		}
	}
	t0 := time.Now()
	t1, t2, t3 := t0.Add(time.Second), t0.Add(3*time.Second), t0.Add(4*time.Second)
	c := newStepClock()
	// go build is a cache hit; apk add runs 3s, reported in two updates,
	// under a digest of its own (as when BuildKit rewrote the op), found
	// by its name.
	c.record(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{
		{Digest: goBuild, Name: steps[goBuild].Name, Started: &t0, Completed: &t0, Cached: true},
		{Digest: "sha256:other", Name: steps[apkAdd].Name, Started: &t1},
	}})
	c.record(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{
		{Digest: "sha256:other", Name: steps[apkAdd].Name, Started: &t2, Completed: &t3},
	}})
	got := c.steps(steps)
	if len(got) != 2 {
		t.Fatalf("steps = %+v", got)
	}
	if got[0].Name != steps[apkAdd].Name || !got[0].Ran || got[0].Duration != 3*time.Second {
		t.Errorf("slowest step = %+v, want apk add, ran for 3s", got[0])
	}
	if got[1].Ran || got[1].Duration != 0 {
		t.Errorf("cached step = %+v, want not ran", got[1])
	}
}
