package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/merge"
)

// preflightTimeout bounds the first calls to the builders, so that an
// endpoint that accepts connections but never answers is reported.
const preflightTimeout = 20 * time.Second

// Outcome is one platform's result, with where and how it was built.
type Outcome struct {
	builder.Result
	Builder  string
	Emulated bool
}

// Result is what a build did: every platform's outcome and, when all
// succeeded, the final tag's digest.
type Result struct {
	Final     name.Tag
	Digest    string
	MediaType string
	Platforms []Outcome
}

// Run executes p: route and preflight, build, merge, verify, and --load.
// Progress and the summary go to stderr. On any failure the final tag is
// left as it was. With --metadata-file the result is written there, on
// success and on failure.
func Run(ctx context.Context, p *Plan, stderr io.Writer) (*Result, error) {
	nodes, err := route(ctx, p)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, n := range nodes {
			n.client.Close()
		}
	}()
	for _, n := range nodes {
		var targets []Target
		for _, i := range n.targets {
			targets = append(targets, p.Targets[i])
		}
		if n.have, err = prepareEmulation(ctx, n.client, targets, p.Emulators, stderr); err != nil {
			return nil, err
		}
	}

	res, err := run(ctx, p, nodes, stderr)
	if res != nil {
		printSummary(stderr, res.Platforms)
		if p.MetadataFile != "" {
			if werr := writeMetadata(p.MetadataFile, res); werr != nil {
				err = errors.Join(err, werr)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func run(ctx context.Context, p *Plan, nodes []*node, stderr io.Writer) (*Result, error) {
	disp, err := builder.NewDisplay(ctx, stderr, p.Progress)
	if err != nil {
		return nil, fmt.Errorf("starting progress display: %w", err)
	}
	res := &Result{Final: p.Final, Platforms: make([]Outcome, len(p.Targets))}
	fatal := build(ctx, p, nodes, disp, res.Platforms)

	var failed []error
	for _, o := range res.Platforms {
		if o.Err != nil {
			failed = append(failed, o.Err)
		}
	}
	if fatal != nil || len(failed) > 0 {
		disp.Wait()
		if fatal != nil {
			return res, fatal
		}
		return res, fmt.Errorf("%d of %d platforms failed, %s left unchanged: %w", len(failed), len(p.Targets), p.Final, errors.Join(failed...))
	}

	done := disp.Step(fmt.Sprintf("merging %d platforms into %s", len(p.Targets), p.Final))
	pub, err := publish(ctx, p, res.Platforms)
	done(err)
	if err == nil && p.Load {
		i := p.hostTarget()
		done = disp.Step(fmt.Sprintf("loading %s into the Docker daemon", platforms.Format(p.Targets[i].Platform)))
		src := p.Final.Context().Digest(res.Platforms[i].Digest).String()
		err = builder.Load(ctx, src, p.Final.String(), p.Targets[i].Tag.String())
		done(err)
	}
	if werr := disp.Wait(); werr != nil && err == nil && ctx.Err() == nil {
		err = fmt.Errorf("progress display: %w", werr)
	}
	if pub != nil {
		res.Digest, res.MediaType = pub.Digest.String(), string(pub.MediaType)
	}
	return res, err
}

// build runs every node's share of the targets concurrently, writing each
// outcome at its target's index. The error is one that stopped a node as
// a whole (its session could not start).
func build(ctx context.Context, p *Plan, nodes []*node, disp *builder.Display, out []Outcome) error {
	var limit chan struct{}
	if p.Parallel > 0 {
		limit = make(chan struct{}, p.Parallel)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for ni, n := range nodes {
		req := p.Build
		req.Limit = limit
		req.Targets = nil
		for _, i := range n.targets {
			req.Targets = append(req.Targets, builder.Target{Platform: p.Targets[i].Platform, Name: p.Targets[i].Tag.String()})
		}
		wg.Go(func() {
			results, err := n.client.Build(ctx, req, disp)
			if err != nil {
				errs[ni] = fmt.Errorf("builder %s: %w", n.client.Address(), err)
				for _, i := range n.targets {
					out[i] = Outcome{Result: builder.Result{Target: builder.Target{Platform: p.Targets[i].Platform, Name: p.Targets[i].Tag.String()}, Err: err}, Builder: n.client.Address()}
				}
				return
			}
			for k, i := range n.targets {
				out[i] = Outcome{Result: results[k], Builder: n.client.Address(), Emulated: !nativeTo(n.have, p.Targets[i].Platform)}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// publish merges the pushed digests into the final tag and verifies it.
func publish(ctx context.Context, p *Plan, outcomes []Outcome) (*merge.Published, error) {
	sources := make([]merge.Source, len(outcomes))
	for i, o := range outcomes {
		sources[i] = merge.Source{Ref: p.Final.Context().Digest(o.Digest)}
	}
	pub, err := merge.Merge(ctx, p.Final, sources, merge.WithInsecure(p.Insecure))
	if err != nil {
		return nil, err
	}
	if err := merge.Verify(ctx, p.Final, pub.Digest, merge.WithInsecure(p.Insecure)); err != nil {
		return pub, err
	}
	return pub, nil
}
