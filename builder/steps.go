package builder

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	bkclient "github.com/moby/buildkit/client"
	gateway "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Step is one exec step (a RUN) of a solve, as the LLB that the
// Dockerfile frontend returned describes it, timed from the status
// stream. Platform is where it runs: a stage `FROM
// --platform=$BUILDPLATFORM` runs on the builder's platform whatever the
// target; other stages run on the target's.
type Step struct {
	// Name is the vertex name, e.g. "[builder 3/5] RUN go build ./cmd/app".
	Name     string
	Platform ocispec.Platform
	// File and Line locate the instruction in the Dockerfile ("" and 0
	// when the frontend gave no source map).
	File string
	Line int
	// Ran says the step ran in this solve (it was not a cache hit, and it
	// started); Duration is then its time from start to completion.
	Ran      bool
	Duration time.Duration
}

// solveDockerfile runs the dockerfile.v0 frontend with opt's attributes
// through BuildKit's gateway, which hands the frontend's result (and the
// LLB behind it) back to mab before it is exported: the result is exported
// unchanged, and the LLB's exec ops, timed from the statuses that pass
// through to ch, are the returned steps. ch is closed, as Solve does.
func (c *Client) solveDockerfile(ctx context.Context, opt bkclient.SolveOpt, ch chan *bkclient.SolveStatus) (*bkclient.SolveResponse, []Step, error) {
	frontend := opt.Frontend
	opt.Frontend = ""
	var (
		mu    sync.Mutex
		execs map[digest.Digest]Step
	)
	build := func(ctx context.Context, gw gateway.Client) (*gateway.Result, error) {
		res, err := gw.Solve(ctx, gateway.SolveRequest{Frontend: frontend, FrontendOpt: gw.BuildOpts().Opts})
		if err != nil {
			return nil, err
		}
		found, err := resultSteps(ctx, res)
		if err != nil {
			return nil, fmt.Errorf("reading the frontend's build steps: %w", err)
		}
		mu.Lock()
		execs = found
		mu.Unlock()
		return res, nil
	}
	rec := newStepClock()
	tee := make(chan *bkclient.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for s := range tee {
			rec.record(s)
			ch <- s
		}
	}()
	resp, err := c.bk.Build(ctx, opt, "mab", build, tee)
	<-done
	mu.Lock()
	defer mu.Unlock()
	return resp, rec.steps(execs), err
}

// resultSteps are the exec ops of every reference of res, keyed by their
// LLB digest, which is also their vertex digest in the status stream.
func resultSteps(ctx context.Context, res *gateway.Result) (map[digest.Digest]Step, error) {
	refs := []gateway.Reference{}
	if res.Ref != nil {
		refs = append(refs, res.Ref)
	}
	for _, r := range res.Refs {
		if r != nil {
			refs = append(refs, r)
		}
	}
	out := map[digest.Digest]Step{}
	for _, r := range refs {
		st, err := r.ToState()
		if err != nil {
			return nil, err
		}
		def, err := st.Marshal(ctx)
		if err != nil {
			return nil, err
		}
		execSteps(def.ToPB(), out)
	}
	return out, nil
}

// execSteps adds the exec ops of def to out: their name (the frontend's
// custom name), platform and place in the Dockerfile.
func execSteps(def *pb.Definition, out map[digest.Digest]Step) {
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.Unmarshal(dt); err != nil || op.GetExec() == nil {
			continue
		}
		dgst := digest.FromBytes(dt)
		s := Step{Name: def.Metadata[string(dgst)].GetDescription()["llb.customname"]}
		if p := op.GetPlatform(); p != nil {
			s.Platform = ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
		}
		if s.Name == "" {
			s.Name = "RUN " + fmt.Sprint(op.GetExec().GetMeta().GetArgs())
		}
		s.File, s.Line = sourceLine(def.Source, dgst)
		out[dgst] = s
	}
}

// sourceLine is the first file and line that src maps dgst to.
func sourceLine(src *pb.Source, dgst digest.Digest) (string, int) {
	if src == nil {
		return "", 0
	}
	locs := src.Locations[string(dgst)]
	for _, l := range locs.GetLocations() {
		if int(l.SourceIndex) >= len(src.Infos) || len(l.Ranges) == 0 {
			continue
		}
		return src.Infos[l.SourceIndex].GetFilename(), int(l.Ranges[0].GetStart().GetLine())
	}
	return "", 0
}

// stepClock remembers when each vertex of a solve started and completed,
// and whether it was a cache hit.
type stepClock struct {
	mu       sync.Mutex
	names    map[digest.Digest]string
	started  map[digest.Digest]time.Time
	finished map[digest.Digest]time.Time
	cached   map[digest.Digest]bool
}

func newStepClock() *stepClock {
	return &stepClock{
		names:    map[digest.Digest]string{},
		started:  map[digest.Digest]time.Time{},
		finished: map[digest.Digest]time.Time{},
		cached:   map[digest.Digest]bool{},
	}
}

// record notes the vertices of s. A vertex is reported several times;
// the earliest start and the latest completion count.
func (c *stepClock) record(s *bkclient.SolveStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range s.Vertexes {
		c.names[v.Digest] = v.Name
		if v.Cached {
			c.cached[v.Digest] = true
		}
		if v.Started != nil {
			if t, ok := c.started[v.Digest]; !ok || v.Started.Before(t) {
				c.started[v.Digest] = *v.Started
			}
		}
		if v.Completed != nil && v.Completed.After(c.finished[v.Digest]) {
			c.finished[v.Digest] = *v.Completed
		}
	}
}

// steps are execs timed: a vertex is matched by digest, or, when BuildKit
// renamed the op (a source policy rewrote an input), by name. They are
// sorted slowest first.
func (c *stepClock) steps(execs map[digest.Digest]Step) []Step {
	c.mu.Lock()
	defer c.mu.Unlock()
	byName := map[string]digest.Digest{}
	for d, n := range c.names {
		byName[n] = d
	}
	out := make([]Step, 0, len(execs))
	for d, s := range execs {
		if _, ok := c.names[d]; !ok {
			if alt, ok := byName[s.Name]; ok {
				d = alt
			}
		}
		start, ok := c.started[d]
		end, done := c.finished[d]
		if ok && !c.cached[d] {
			s.Ran = true
			if done && end.After(start) {
				s.Duration = end.Sub(start)
			}
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Duration != out[j].Duration {
			return out[i].Duration > out[j].Duration
		}
		return out[i].Name < out[j].Name
	})
	return out
}
