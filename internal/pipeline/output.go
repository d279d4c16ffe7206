package pipeline

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
	"github.com/mab-build/mab/ocilayout"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// StageSaved: every platform built and exported to the client, and the
// OCI archive or layout folder of their index moved into place. The last
// stage of a build with --output; nothing is pushed.
const StageSaved Stage = "saved"

// WrittenError is a failure after --output's archive or folder was
// written: it holds the index; a later step (--load) failed. It is to
// --output what PublishedError is to a registry.
type WrittenError struct {
	Dest, Digest string
	Err          error
}

func (e *WrittenError) Error() string {
	return fmt.Sprintf("%s is written (%s), but then %v", e.Dest, e.Digest, e.Err)
}

func (e *WrittenError) Unwrap() error { return e.Err }

// OutputTypes are the --output types mab writes.
var OutputTypes = []string{"oci"}

// Output is a parsed --output: where the one OCI index of every platform
// is written instead of a registry.
type Output struct {
	Type string
	Dest ocilayout.Destination
	// Name is the -t given with --output, as typed ("" for none): the name
	// of the image inside the archive.
	Name string
}

// ParseOutput reads --output as buildx spells it:
// type=oci,dest=PATH[,tar=true|false]. force is --force: replace what is
// at PATH. Any other type or key is refused.
func ParseOutput(s string, force bool) (*Output, error) {
	out := &Output{Dest: ocilayout.Destination{Tar: true, Force: force}}
	seen := map[string]bool{}
	for _, field := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(field, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid --output %s: want type=oci,dest=PATH[,tar=false]", clip(s))
		}
		if seen[k] {
			return nil, fmt.Errorf("invalid --output %s: %s is given twice", clip(s), k)
		}
		seen[k] = true
		switch k {
		case "type":
			out.Type = v
		case "dest":
			out.Dest.Path = v
		case "tar":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("invalid --output %s: tar=%s: want true or false", clip(s), clip(v))
			}
			out.Dest.Tar = b
		default:
			return nil, fmt.Errorf("invalid --output %s: unknown key %s (want type, dest, tar)", clip(s), clip(k))
		}
	}
	switch {
	case out.Type == "":
		return nil, fmt.Errorf("invalid --output %s: no type: want type=oci", clip(s))
	case out.Type != "oci":
		return nil, fmt.Errorf("invalid --output %s: unknown type %s: mab writes type=oci (without --output it pushes to the registry of -t)", clip(s), clip(out.Type))
	case out.Dest.Path == "":
		return nil, fmt.Errorf("invalid --output %s: no dest: want dest=FILE, or dest=FOLDER with tar=false", clip(s))
	}
	return out, nil
}

// outputTargets are the tags and targets of a build with --output: at
// most one -t, which names the image in the archive (no registry is
// reached, so no arch tags are derived).
func outputTargets(o Options, plats []ocispec.Platform) ([]name.Tag, []Target, error) {
	var tags []name.Tag
	switch {
	case len(o.Tags) > 1:
		return nil, nil, fmt.Errorf("--output names one image: give one -t (or none)")
	case len(o.Tags) == 1:
		t, err := parseTag(o.Tags[0], false)
		if err != nil {
			return nil, nil, err
		}
		if _, err := ocilayout.Names(o.Tags[0]); err != nil {
			return nil, nil, err
		}
		tags = []name.Tag{t}
	}
	targets := make([]Target, len(plats))
	for i, p := range plats {
		targets[i] = Target{Platform: p}
		if len(tags) > 0 {
			targets[i].Tag = tags[0]
		}
	}
	return tags, targets, nil
}

// checkOutput refuses what --output cannot be combined with, and a
// destination that cannot be written (unless only a dry run is asked).
func (p *Plan) checkOutput(o Options) error {
	for _, c := range []struct {
		on   bool
		flag string
	}{{o.PushByDigest, "--push-by-digest"}, {o.NoMerge, "--no-merge"}, {o.Suffix != "", "--suffix"}} {
		if c.on {
			return fmt.Errorf("%s is about pushing to a registry, and --output pushes nothing: give one or the other", c.flag)
		}
	}
	addrs := []string{p.Builder}
	for _, n := range p.Nodes {
		addrs = append(addrs, n.Address)
	}
	for _, a := range addrs {
		if builder.PushesByTag(a) {
			return fmt.Errorf("--output cannot be written by the builder %s: a Docker daemon's BuildKit keeps images in the daemon", a)
		}
	}
	if o.DryRun {
		return nil
	}
	if err := p.Output.Dest.Check(); err != nil {
		return fmt.Errorf("invalid --output: %w", err)
	}
	return nil
}

// loadTarget is the target that --load loads into a daemon with the
// classic image store: --load-platform's, else the host's; -1 for none.
func (p *Plan) loadTarget() int {
	if p.LoadPlatform == nil {
		return p.hostTarget()
	}
	for i, t := range p.Targets {
		if platform.Format(t.Platform) == platform.Format(*p.LoadPlatform) {
			return i
		}
	}
	return -1
}

// checkLoad refuses --load when the platform it loads is not built, and
// --load-platform without --load.
func (p *Plan) checkLoad(o Options) error {
	if o.LoadPlatform != "" {
		if !o.Load {
			return fmt.Errorf("--load-platform picks what --load loads: add --load")
		}
		lp, err := platform.Parse(o.LoadPlatform)
		if err != nil {
			return fmt.Errorf("invalid --load-platform: %w", err)
		}
		p.LoadPlatform = &lp
		if p.loadTarget() < 0 {
			return fmt.Errorf("--load-platform %s is not among --platform", platform.Format(lp))
		}
		return nil
	}
	if p.Load && p.hostTarget() < 0 {
		return fmt.Errorf("--load loads the host's platform %s, which is not among --platform: name one with --load-platform", platform.Format(platform.Host()))
	}
	return nil
}

// startOutput creates the staging folder of --output and has every solve
// export its archive into it.
func startOutput(p *Plan) (*ocilayout.Writer, error) {
	w, err := ocilayout.Create(p.Output.Dest)
	if err != nil {
		return nil, err
	}
	p.Build.ArchiveDir = w.Scratch()
	return w, nil
}

// saved ends a build with --output: the archives of every platform become
// one index in the layout, moved into place; then --load.
func (r Runner) saved(ctx context.Context, p *Plan, w *ocilayout.Writer, disp *builder.Display, res *Result) error {
	dest := w.Destination()
	done := disp.Step(fmt.Sprintf("writing %d platforms into the %s %s", len(p.Targets), dest.Kind(), p.Output.Dest.Path))
	top, err := writeLayout(p, w, res.Platforms)
	done(err)
	if err != nil {
		return fmt.Errorf("nothing written to %s: %w", p.Output.Dest.Path, err)
	}
	res.Stage, res.Digest, res.MediaType, res.Size = StageSaved, top.Digest.String(), string(top.MediaType), top.Size
	res.Output = p.Output
	r.report(StageSaved)
	if p.Load {
		i := p.loadTarget()
		done = disp.Step(fmt.Sprintf("loading %s into the Docker daemon", p.Output.Dest.Path))
		err = r.loadLayout(ctx, p, dest, platform.Format(p.Targets[i].Platform), res)
		done(err)
		if err != nil {
			return &WrittenError{Dest: p.Output.Dest.Path, Digest: res.Digest, Err: fmt.Errorf("--load failed: %w", err)}
		}
	}
	return nil
}

// writeLayout reads each platform's archive into w, checks that each
// image is of the platform it was built for, assembles the index (index
// and descriptor annotations applied) and commits the layout.
func writeLayout(p *Plan, w *ocilayout.Writer, outcomes []Outcome) (v1.Descriptor, error) {
	var c ocilayout.Children
	for i, o := range outcomes {
		want := platform.Format(p.Targets[i].Platform)
		path := builder.ArchivePath(w.Scratch(), o.Digest)
		f, err := os.Open(path)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("the archive of %s: %w", want, unwrapPath(err))
		}
		tops, err := w.AddArchive(f)
		f.Close()
		os.Remove(path)
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("the archive of %s: %w", want, err)
		}
		n := len(c.Images)
		for _, d := range tops {
			if err := w.Flatten(&c, d); err != nil {
				return v1.Descriptor{}, fmt.Errorf("the archive of %s: %w", want, err)
			}
		}
		for k := n; k < len(c.Images); k++ {
			img := &c.Images[k]
			if got := platform.Format(toOCI(img.Platform)); got != want {
				return v1.Descriptor{}, fmt.Errorf("the image built for %s declares %s in its config", want, got)
			}
			if a := p.Annotations.Descriptor(p.Targets[i].Platform); len(a) > 0 {
				img.Annotations = maps.Clone(img.Annotations)
				if img.Annotations == nil {
					img.Annotations = map[string]string{}
				}
				maps.Copy(img.Annotations, a)
			}
		}
		if len(c.Images) == n {
			return v1.Descriptor{}, fmt.Errorf("the archive of %s holds no image", want)
		}
	}
	top, err := w.Index(c, p.Annotations.Index())
	if err != nil {
		return v1.Descriptor{}, err
	}
	var names map[string]string
	if p.Output.Name != "" {
		if names, err = ocilayout.Names(p.Output.Name); err != nil {
			return v1.Descriptor{}, err
		}
	}
	// manifest.json: the platform `docker load` of a daemon without OCI
	// support loads (--load-platform's, else the host's, else the first).
	i := max(p.loadTarget(), 0)
	var docker *ocilayout.DockerManifest
	for _, img := range c.Images {
		if platform.Format(toOCI(img.Platform)) == platform.Format(p.Targets[i].Platform) {
			if docker, err = w.DockerManifestFor(img, p.Output.Name); err != nil {
				return v1.Descriptor{}, err
			}
		}
	}
	if err := w.Commit(top, names, docker); err != nil {
		return v1.Descriptor{}, err
	}
	return top, nil
}

func toOCI(p *v1.Platform) ocispec.Platform {
	if p == nil {
		return ocispec.Platform{}
	}
	return ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures}
}

// printOutput writes, after the summary, the lines of what --output wrote
// and --load loaded.
func printOutput(w io.Writer, res *Result) {
	if res.Output != nil && res.Stage == StageSaved {
		fmt.Fprintf(w, "wrote %s %s: index %s (%d platforms)\n", res.Output.Dest.Kind(), res.Output.Dest.Path, res.Digest, len(res.Platforms))
	}
	if res.Loaded != "" {
		fmt.Fprintln(w, res.Loaded)
	}
}

// runOutput builds every platform into the staging folder of --output
// and, when all succeeded, writes the layout (see saved). built reports
// whether any solve ran.
func (r Runner) runOutput(ctx context.Context, p *Plan, nodes []*node, res *Result, stderr io.Writer) (built bool, err error) {
	for _, n := range nodes {
		if builder.PushesByTag(n.client.Address()) {
			return false, fmt.Errorf("--output cannot be written by the builder %s: a Docker daemon's BuildKit keeps images in the daemon", n.client.Address())
		}
	}
	w, err := startOutput(p)
	if err != nil {
		return false, err
	}
	defer w.Close()
	disp, err := builder.NewDisplay(ctx, stderr, p.Progress)
	if err != nil {
		return false, fmt.Errorf("starting progress display: %w", err)
	}
	fatal := build(ctx, p, nodes, disp, res.Platforms)
	failed := failures(res.Platforms)
	if fatal != nil || len(failed) > 0 {
		disp.Wait()
		if fatal != nil {
			return true, fmt.Errorf("nothing written to %s: %w", p.Output.Dest.Path, fatal)
		}
		return true, fmt.Errorf("%d of %d platforms failed, nothing written to %s: %w", len(failed), len(p.Targets), p.Output.Dest.Path, platformFailures(failed))
	}
	res.Stage = StageBuilt
	r.report(StageBuilt)
	err = r.saved(ctx, p, w, disp, res)
	if werr := disp.Wait(); werr != nil && err == nil && ctx.Err() == nil {
		err = fmt.Errorf("progress display: %w", werr)
	}
	return true, err
}

// OutputMetadata is what the metadata file says of --output.
type OutputMetadata struct {
	Type string `json:"type"`
	Dest string `json:"dest"`
	Tar  bool   `json:"tar"`
	// Name is the image's name inside it ("" without -t).
	Name string `json:"name,omitempty"`
	// Digest, MediaType and Size describe the index inside, once written.
	Digest    string `json:"digest,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	Size      int64  `json:"size,omitempty"`
}

// outputMetadata fills m's output keys from p's --output and r.
func outputMetadata(m *Metadata, o *Output, r *Result) {
	m.Output = &OutputMetadata{Type: o.Type, Dest: o.Dest.Path, Tar: o.Dest.Tar, Name: o.Name}
	if r.Stage == StageSaved {
		m.Output.Digest, m.Output.MediaType, m.Output.Size = r.Digest, r.MediaType, r.Size
		m.ImageName = o.Name
	}
	for i := range m.Platforms {
		m.Platforms[i].Ref = "" // in no registry
	}
}
