package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/merge"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// preflightTimeout bounds the first call to the builder, so that an
// endpoint that accepts connections but never answers is reported.
const preflightTimeout = 20 * time.Second

// Result is a build that was published: the final tag, its digest, and the
// outcome of each platform.
type Result struct {
	Final     name.Tag
	Digest    string
	Platforms []builder.Result
}

// Run executes p: preflight, build, merge, verify. Progress and the summary
// go to stderr. On any failure the final tag is left as it was.
func Run(ctx context.Context, p *Plan, stderr io.Writer) (*Result, error) {
	bk, err := builder.Dial(ctx, p.Builder)
	if err != nil {
		return nil, err
	}
	defer bk.Close()

	if err := Preflight(ctx, bk, p.Targets); err != nil {
		return nil, err
	}

	results, err := bk.Build(ctx, p.buildRequest(stderr))
	if err != nil {
		return nil, err
	}
	var failed []error
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r.Err)
		}
	}
	if len(failed) > 0 {
		printSummary(stderr, results)
		return nil, fmt.Errorf("%d of %d platforms failed, %s left unchanged: %w", len(failed), len(results), p.Final, errors.Join(failed...))
	}

	sources := make([]merge.Source, len(results))
	for i, r := range results {
		sources[i] = merge.Source{Ref: p.Final.Context().Digest(r.Digest)}
	}
	pub, err := merge.Merge(ctx, p.Final, sources, merge.WithInsecure(p.Insecure))
	if err != nil {
		return nil, err
	}
	if err := merge.Verify(ctx, p.Final, pub.Digest, merge.WithInsecure(p.Insecure)); err != nil {
		return nil, err
	}
	printSummary(stderr, results)
	return &Result{Final: p.Final, Digest: pub.Digest.String(), Platforms: results}, nil
}

// Preflight fails unless the builder's workers can run every target's
// platform, and names the fix for those they cannot.
func Preflight(ctx context.Context, bk *builder.Client, targets []Target) error {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	have, err := bk.Platforms(ctx)
	if err != nil {
		return err
	}
	var missing []string
	var arches []string
	for _, t := range targets {
		if !supports(have, t.Platform) {
			missing = append(missing, platforms.Format(t.Platform))
			arches = append(arches, t.Platform.Architecture)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var haveStr []string
	for _, h := range have {
		haveStr = append(haveStr, platforms.Format(h))
	}
	return fmt.Errorf("builder %s cannot run %s (it runs %s): register QEMU handlers on the builder's host with `sudo mab emulation install %s`",
		bk.Address(), strings.Join(missing, ", "), strings.Join(haveStr, ", "), strings.Join(slices.Compact(arches), " "))
}

func supports(have []ocispec.Platform, want ocispec.Platform) bool {
	for _, h := range have {
		if platforms.NewMatcher(h).Match(want) {
			return true
		}
	}
	return false
}

func (p *Plan) buildRequest(progress io.Writer) builder.Request {
	req := builder.Request{
		ContextDir:     p.ContextDir,
		DockerfileDir:  p.DockerfileDir,
		DockerfileName: p.DockerfileName,
		BuildArgs:      p.BuildArgs,
		Insecure:       p.Insecure,
		Progress:       p.Progress,
		ProgressOut:    progress,
	}
	for _, t := range p.Targets {
		req.Targets = append(req.Targets, builder.Target{Platform: t.Platform, Name: t.Tag.String()})
	}
	return req
}

// printSummary writes one line per platform: status, arch tag, digest and
// duration, and the first line of the error of a failed one.
func printSummary(w io.Writer, results []builder.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tSTATUS\tTAG\tDIGEST\tDURATION")
	for _, r := range results {
		status, dgst := "ok", r.Digest
		if r.Err != nil {
			status, dgst = "failed", firstLine(r.Err)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", platforms.Format(r.Target.Platform), status, r.Target.Name, dgst, r.Duration.Round(100*time.Millisecond))
	}
	tw.Flush()
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
