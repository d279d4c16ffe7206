package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
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
	// OnStage, when set, is told each stage as it is reached: what a
	// second Ctrl-C reports as the state it leaves.
	OnStage func(Stage)
}

func (r Runner) report(s Stage) {
	if r.OnStage != nil {
		r.OnStage(s)
	}
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

// Result is what a build did: how far it got, every platform's outcome
// and, once the final tag is confirmed, its digest.
type Result struct {
	Final     name.Tag
	Stage     Stage
	Digest    string
	MediaType string
	// Before is the digest the final tag held before the write, "" when it
	// did not exist; Restored says the tag was put back to it after a
	// failed read-back.
	Before    string
	Restored  bool
	Platforms []Outcome
}

// Run executes p with the real builders and registries; see Runner.Run.
func Run(ctx context.Context, p *Plan, stderr io.Writer) (*Result, error) {
	return Runner{}.Run(ctx, p, stderr)
}

// Run executes p: route and preflight, build, publish (checked, written,
// confirmed: see Stage) and --load. Progress and the summary go to stderr.
// The final tag is written only when every platform succeeded and the
// index passed every check; a failed read-back puts the earlier index back
// when the tag still holds mab's. With --metadata-file the file is
// replaced before anything is dialled (a stale one never survives) and
// written again with the outcome, success or not. The result is returned
// with the error too, for the stage it reached.
//
// Errors after the final tag was confirmed are *PublishedError; errors
// after a write that could be neither confirmed nor undone are
// *UnconfirmedError; every other error leaves the final tag as it was.
func (r Runner) Run(ctx context.Context, p *Plan, stderr io.Writer) (*Result, error) {
	res := &Result{Final: p.Final, Stage: StagePlanned, Platforms: make([]Outcome, len(p.Targets))}
	for i, t := range p.Targets {
		res.Platforms[i].Target = builderTarget(t)
	}
	if p.MetadataFile != "" {
		if err := writeMetadata(p.MetadataFile, res, nil); err != nil {
			return res, err
		}
	}
	r.report(StagePlanned)
	built, err := r.run(ctx, p, res, stderr)
	if built {
		printSummary(stderr, res.Platforms)
	}
	if p.MetadataFile != "" {
		if werr := writeMetadata(p.MetadataFile, res, err); werr != nil {
			if err == nil {
				err = &PublishedError{Final: p.Final, Digest: res.Digest, Err: werr}
			} else {
				err = errors.Join(err, werr)
			}
		}
	}
	return res, err
}

// run routes, checks, builds, publishes and loads, recording in res how
// far it got. built reports whether any solve ran (then a summary is due).
func (r Runner) run(ctx context.Context, p *Plan, res *Result, stderr io.Writer) (built bool, err error) {
	nodes, err := r.route(ctx, p, stderr)
	if err != nil {
		return false, err
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
			return false, err
		}
	}

	disp, err := builder.NewDisplay(ctx, stderr, p.Progress)
	if err != nil {
		return false, fmt.Errorf("starting progress display: %w", err)
	}
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
			return true, fatal
		}
		return true, fmt.Errorf("%d of %d platforms failed, %s left unchanged: %w", len(failed), len(p.Targets), p.Final, platformFailures(failed))
	}
	res.Stage = StageBuilt
	r.report(StageBuilt)

	done := disp.Step(fmt.Sprintf("merging %d platforms into %s", len(p.Targets), p.Final))
	pub := &publication{stage: StageBuilt}
	err = r.publish(ctx, p, res.Platforms, pub)
	done(err)
	res.Stage, res.Before, res.Restored = pub.stage, pub.before, pub.restored
	if pub.stage == StageConfirmed {
		res.Digest, res.MediaType = pub.wrote.String(), pub.media
	}
	if err == nil && p.Load {
		i := p.hostTarget()
		done = disp.Step(fmt.Sprintf("loading %s into the Docker daemon", platform.Format(p.Targets[i].Platform)))
		err = r.load(ctx, p, i, res.Platforms[i].Digest)
		done(err)
		if err != nil {
			err = &PublishedError{Final: p.Final, Digest: res.Digest, Err: fmt.Errorf("--load failed: %w", err)}
		}
	}
	if werr := disp.Wait(); werr != nil && err == nil && ctx.Err() == nil {
		err = fmt.Errorf("progress display: %w", werr)
	}
	return true, err
}

// platformFailures are the failures of several platforms. Its message
// names each distinct cause once, after the platforms it stopped: an
// unreachable SBOM scanner fails every platform the same way, and one line
// should say so once.
type platformFailures []error

func (f platformFailures) Error() string {
	var causes []string
	plats := map[string][]string{}
	for _, err := range f {
		msg := OneLine(err)
		plat, cause := "", msg
		if rest, ok := strings.CutPrefix(msg, "building "); ok {
			if p, c, ok := strings.Cut(rest, ": "); ok {
				plat, cause = p, c
			}
		}
		if _, seen := plats[cause]; !seen {
			causes = append(causes, cause)
		}
		if plat != "" {
			plats[cause] = append(plats[cause], plat)
		} else if plats[cause] == nil {
			plats[cause] = []string{}
		}
	}
	parts := make([]string, len(causes))
	for i, c := range causes {
		parts[i] = c
		if ps := plats[c]; len(ps) > 0 {
			parts[i] = "building " + strings.Join(ps, ", ") + ": " + c
		}
	}
	return strings.Join(parts, "; ")
}

func (f platformFailures) Unwrap() []error { return f }
