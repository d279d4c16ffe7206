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
	// DockerStore tells which image store the Docker daemon has, and
	// LoadArchive sends it an archive (`docker load`), for --load; nil
	// means builder.InspectDocker and builder.LoadArchive.
	DockerStore func(ctx context.Context) (builder.DockerStore, error)
	LoadArchive func(ctx context.Context, r io.Reader) ([]string, error)
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
// Mode is decided by what ran (see outcomeOn); Emulated is Mode ==
// ModeEmulated; EmulatedSteps are the exec steps that ran under QEMU,
// slowest first, and EmulatedTime their sum.
type Outcome struct {
	builder.Result
	Builder       string
	Mode          Mode
	Emulated      bool
	EmulatedTime  time.Duration
	EmulatedSteps []builder.Step
}

// Result is what a build did: how far it got, every platform's outcome
// and, once the final tag is confirmed, its digest.
type Result struct {
	Final name.Tag
	// Tags are every -t, Final first; Held those read back holding the
	// index.
	Tags, Held []name.Tag
	Stage      Stage
	Digest     string
	MediaType  string
	Size       int64
	// Before is the digest the final tag held before the write, "" when it
	// did not exist; Restored says the tag was put back to it after a
	// failed read-back. Overwritten is what the final tag held when read
	// once more after every tag was written, when that was another
	// writer's index (Digest is then empty).
	Before      string
	Restored    bool
	Overwritten string
	// PushByDigest and Merged are the plan's: no arch tags; an index.
	PushByDigest, Merged bool
	// Pushed says that, with --no-merge, every platform was pushed (and,
	// without --push-by-digest, tagged).
	Pushed    bool
	Platforms []Outcome
	// Output is where --output wrote the index (Digest, MediaType and
	// Size describe it), once Stage is StageSaved.
	Output *Output
	// Loaded is the line that says what --load loaded, into which store.
	Loaded string
}

// Digests are what `mab build` prints on stdout, one a line: the final
// tag's digest once confirmed (even when a later step failed), or, with
// --no-merge once every platform is pushed, each platform's digest in
// --platform order.
func (r *Result) Digests() []string {
	if r.Digest != "" {
		return []string{r.Digest}
	}
	if !r.Pushed {
		return nil
	}
	out := make([]string, len(r.Platforms))
	for i, o := range r.Platforms {
		out[i] = o.Digest
	}
	return out
}

// Run executes p with the real builders and registries; see Runner.Run.
func Run(ctx context.Context, p *Plan, stderr io.Writer) (*Result, error) {
	return Runner{}.Run(ctx, p, stderr)
}

// Run executes p: route and preflight, build (each platform pushed by
// digest), publish (checked, written, confirmed: see Stage), the other
// tags and the arch tags, and --load. Progress and the summary go to
// stderr. The final tag is written only when every platform succeeded and
// the index passed every check; a failed read-back puts the earlier index
// back when the tag still holds mab's. Arch tags are written only after
// the final tag is confirmed (with --no-merge, once every platform is
// pushed), and never with --push-by-digest. With --metadata-file the file
// is replaced before anything is dialled (a stale one never survives) and
// written again with the outcome, success or not. The result is returned
// with the error too, for the stage it reached.
//
// Errors after the final tag was confirmed are *PublishedError; errors
// after a write that could be neither confirmed nor undone, and another
// writer's index found under the final tag after every tag was written,
// are *UnconfirmedError; every other error leaves the final tag as it was
// and writes no tag.
func (r Runner) Run(ctx context.Context, p *Plan, stderr io.Writer) (*Result, error) {
	res := &Result{Final: p.Final, Tags: p.Tags, Stage: StagePlanned, PushByDigest: p.PushByDigest, Merged: !p.NoMerge, Platforms: make([]Outcome, len(p.Targets))}
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
		printOutput(stderr, res)
	}
	if p.MetadataFile != "" {
		if werr := writeMetadata(p.MetadataFile, res, err); werr != nil {
			switch {
			case err == nil && p.NoMerge:
				err = fmt.Errorf("every platform is pushed, but then %w", werr)
			case err == nil && p.Output != nil:
				err = &WrittenError{Dest: p.Output.Dest.Path, Digest: res.Digest, Err: werr}
			case err == nil:
				err = &PublishedError{Final: p.Final, Digest: res.Digest, Err: werr}
			default:
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
	if p.PushByDigest {
		// The plan refused a named Docker builder; this is one discovered.
		for _, n := range nodes {
			if builder.PushesByTag(n.client.Address()) {
				return false, fmt.Errorf("--push-by-digest cannot be done by the builder %s: a Docker daemon's BuildKit pushes through the daemon, by tag only", n.client.Address())
			}
		}
	}
	for _, n := range nodes {
		var targets []Target
		for _, i := range n.targets {
			targets = append(targets, p.Targets[i])
		}
		if n.have, err = prepareEmulation(ctx, n.client, targets, p.Emulators, stderr); err != nil {
			return false, err
		}
	}

	if p.Output != nil {
		return r.runOutput(ctx, p, nodes, res, stderr)
	}
	client := r.registry(p)
	if err := checkRegistries(ctx, p, client); err != nil {
		return false, err
	}

	disp, err := builder.NewDisplay(ctx, stderr, p.Progress)
	if err != nil {
		return false, fmt.Errorf("starting progress display: %w", err)
	}
	fatal := build(ctx, p, nodes, disp, res.Platforms)
	failed := failures(res.Platforms)
	if fatal != nil || len(failed) > 0 {
		disp.Wait()
		if fatal != nil {
			return true, fatal
		}
		return true, fmt.Errorf("%d of %d platforms failed, %s: %w", len(failed), len(p.Targets), p.untouched(), platformFailures(failed))
	}
	res.Stage = StageBuilt
	r.report(StageBuilt)

	if err = describe(ctx, p, client, res.Platforms); err == nil {
		if p.NoMerge {
			err = r.pushed(ctx, p, client, disp, res)
		} else {
			err = r.merged(ctx, p, client, disp, res)
		}
	}
	if werr := disp.Wait(); werr != nil && err == nil && ctx.Err() == nil {
		err = fmt.Errorf("progress display: %w", werr)
	}
	return true, err
}

// merged publishes the index under every tag (see publish), then loads
// the host's platform when asked.
func (r Runner) merged(ctx context.Context, p *Plan, client *merge.Client, disp *builder.Display, res *Result) error {
	done := disp.Step(fmt.Sprintf("merging %d platforms into %s", len(p.Targets), p.Final))
	pub := &publication{stage: StageBuilt}
	err := r.publish(ctx, p, client, res.Platforms, pub)
	done(err)
	res.Stage, res.Before, res.Restored, res.Held, res.Overwritten = pub.stage, pub.before, pub.restored, pub.held, pub.overwritten
	if pub.stage == StageConfirmed && pub.overwritten == "" {
		res.Digest, res.MediaType, res.Size = pub.wrote.String(), pub.media, pub.size
	}
	if err == nil && p.Load {
		i := p.loadTarget()
		done = disp.Step(fmt.Sprintf("loading %s into the Docker daemon", p.Final))
		err = r.loadPublished(ctx, p, client, res, i)
		done(err)
		if err != nil {
			err = &PublishedError{Final: p.Final, Digest: res.Digest, Err: fmt.Errorf("--load failed: %w", err)}
		}
	}
	return err
}

// pushed ends a --no-merge build: no index, no final tag; the arch tags
// are written now that every platform succeeded, unless --push-by-digest.
func (r Runner) pushed(ctx context.Context, p *Plan, client *merge.Client, disp *builder.Display, res *Result) error {
	if !p.PushByDigest {
		done := disp.Step(fmt.Sprintf("tagging %d platforms", len(p.Targets)))
		err := tagPlatforms(ctx, p, client, res.Platforms)
		done(err)
		if err != nil {
			return fmt.Errorf("every platform is pushed by digest, but the arch tags are not all written: %w", err)
		}
	}
	res.Pushed = true
	return nil
}

// untouched says, for an error before anything is tagged, what was left as
// it was.
func (p *Plan) untouched() string {
	if p.NoMerge {
		return "no tag written"
	}
	return p.Final.String() + " left unchanged"
}

// describe fills in each platform's media type and size where the builder
// did not report them (a Docker daemon's push names the digest only),
// reading the pushed digest from the registry.
func describe(ctx context.Context, p *Plan, client *merge.Client, outcomes []Outcome) error {
	for i := range outcomes {
		o := &outcomes[i]
		if o.MediaType != "" && o.Size > 0 {
			continue
		}
		l, err := client.Inspect(ctx, p.Targets[i].Tag.Context().Digest(o.Digest))
		if err != nil {
			return fmt.Errorf("%s: reading what %s pushed: %w", p.untouched(), platform.Format(p.Targets[i].Platform), err)
		}
		o.MediaType, o.Size = string(l.MediaType), l.Size
	}
	return nil
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

// failures are the errors of the platforms that failed, in order.
func failures(outcomes []Outcome) []error {
	var failed []error
	for _, o := range outcomes {
		if o.Err != nil {
			failed = append(failed, o.Err)
		}
	}
	return failed
}
