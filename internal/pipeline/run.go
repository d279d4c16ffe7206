package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
	"github.com/mab-build/mab/merge"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// preflightTimeout bounds the first calls to the builders, so that an
// endpoint that accepts connections but never answers is reported.
const preflightTimeout = 20 * time.Second

// Builder is what the pipeline needs of a BuildKit endpoint.
// *builder.Client is the real one; tests pass their own.
type Builder interface {
	// Address is the endpoint, as the user named it.
	Address() string
	// Platforms lists what the workers run, the host's platform first.
	Platforms(ctx context.Context) ([]ocispec.Platform, error)
	// Build solves req once per target and returns one result per target
	// in the order of req.Targets (see builder.Client.Build).
	Build(ctx context.Context, req builder.Request, progress builder.Progress) ([]builder.Result, error)
	Close() error
}

// Runner runs plans. Its zero value uses the real builders, registries
// and Docker daemon; each field replaces one of them.
type Runner struct {
	// Dial connects to the builder at addr; nil means builder.Dial.
	Dial func(ctx context.Context, addr string, tls builder.TLS) (Builder, error)
	// Discover finds a builder when the plan names none; nil means
	// builder.Discover.
	Discover func(ctx context.Context) (string, error)
	// Load puts src into the Docker daemon under tags; nil means builder.Load.
	Load func(ctx context.Context, src string, tags ...string) error
	// Registry options configure the registry client of the publish step,
	// after the plan's own (--insecure): a transport, a keychain, retries.
	Registry []merge.Option
}

func (r Runner) dial(ctx context.Context, addr string, tls builder.TLS) (Builder, error) {
	if r.Dial != nil {
		return r.Dial(ctx, addr, tls)
	}
	return builder.Dial(ctx, addr, tls)
}

func (r Runner) discover(ctx context.Context) (string, error) {
	if r.Discover != nil {
		return r.Discover(ctx)
	}
	addr, _, err := builder.Discover(ctx)
	return addr, err
}

func (r Runner) loadFunc() func(ctx context.Context, src string, tags ...string) error {
	if r.Load != nil {
		return r.Load
	}
	return builder.Load
}

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

// Run executes p with the real builders and registries; see Runner.Run.
func Run(ctx context.Context, p *Plan, stderr io.Writer) (*Result, error) {
	return Runner{}.Run(ctx, p, stderr)
}

// Run executes p: route and preflight, build, publish (merge and verify),
// and --load. Progress and the summary go to stderr. On any failure before
// the merge the final tag is left as it was. With --metadata-file the
// result is written there, on success and on failure.
func (r Runner) Run(ctx context.Context, p *Plan, stderr io.Writer) (*Result, error) {
	nodes, err := r.route(ctx, p, stderr)
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

	res, err := r.run(ctx, p, nodes, stderr)
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

// run is build, publish and load under one progress display.
func (r Runner) run(ctx context.Context, p *Plan, nodes []*node, stderr io.Writer) (*Result, error) {
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
	pub, err := r.publish(ctx, p, res.Platforms)
	done(err)
	if err == nil && p.Load {
		i := p.hostTarget()
		done = disp.Step(fmt.Sprintf("loading %s into the Docker daemon", platform.Format(p.Targets[i].Platform)))
		err = r.load(ctx, p, i, res.Platforms[i].Digest)
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
