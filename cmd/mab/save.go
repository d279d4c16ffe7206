package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/platform"
	"github.com/mab-build/mab/merge"
	"github.com/mab-build/mab/ocilayout"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

// saveFlags are the flags of mab save.
type saveFlags struct {
	platforms []string
	tar       bool
	force     bool
	plain     plainHTTPFlags
}

// savePlan is what the flags and arguments ask for, checked before any
// registry is dialled.
type savePlan struct {
	ref   name.Reference
	dest  ocilayout.Destination
	keep  []ocispec.Platform // --platform; nil keeps every image
	names map[string]string  // index.json's names of the image
}

func newSaveCmd() *cobra.Command {
	var f saveFlags
	cmd := &cobra.Command{
		Use:   "save [flags] REF DEST",
		Short: "Write a multi-platform image from a registry into one OCI archive",
		Long: `Write what REF holds (an index with every platform, or one image) into
DEST, an OCI archive (--tar=false: an OCI layout folder), with every
child manifest, config, layer and attestation manifest: what
mab build --output type=oci writes, for an image already in a registry.
skopeo copy oci-archive:DEST, ctr images import --all-platforms and
docker load read it.

Without --platform the index is kept byte for byte: the archive holds the
digest the registry serves. --platform keeps only some images (and their
attestations): the archive then holds a new index that lists those, with
a digest of its own; a platform the index lacks is an error.

The archive names the image REF (io.containerd.image.name and
org.opencontainers.image.ref.name) when REF has a tag. It is written to a
temporary file beside DEST and renamed; an existing DEST is refused
unless --force. The index digest is printed on stdout.

Plain HTTP is used for loopback registries, those named with
--insecure-registry, and, with --insecure, every registry of the command.`,
		Example: `  mab save registry.example.com/app:1.4 app.tar
  mab save --platform linux/arm64,linux/arm/v7 registry.example.com/app:1.4 app-arm.tar
  mab save --tar=false --force registry.example.com/app:1.4 app-layout
  skopeo copy --all oci-archive:app.tar docker://other.example.com/app:1.4`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return advise(f.run(cmd, args[0], args[1]), "save")
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.platforms, "platform", nil, "keep only these platforms, comma-separated or repeated (a new index lists them)")
	fl.BoolVar(&f.tar, "tar", true, "write one tar archive; false writes an OCI layout folder DEST")
	fl.BoolVar(&f.force, "force", false, "replace what is at DEST")
	f.plain.add(fl)
	return cmd
}

// plan checks the flags, the reference and the destination.
func (f saveFlags) plan(ref, dest string) (savePlan, error) {
	var p savePlan
	if err := f.plain.check(); err != nil {
		return p, err
	}
	r, err := name.ParseReference(ref, f.plain.nameOptions(ref)...)
	if err != nil {
		return p, fmt.Errorf("invalid reference %q: %s", ref, merge.Printable(err.Error()))
	}
	p.ref = r
	if len(f.platforms) > 0 {
		if p.keep, err = platform.ParseList(f.platforms); err != nil {
			return p, fmt.Errorf("invalid --platform: %w", err)
		}
	}
	if _, tagged := r.(name.Tag); tagged {
		if p.names, err = ocilayout.Names(ref); err != nil {
			return p, err
		}
	}
	p.dest = ocilayout.Destination{Path: dest, Tar: f.tar, Force: f.force}
	if err := p.dest.Check(); err != nil {
		return p, err
	}
	return p, nil
}

// keeper returns the Keep of --platform for the index raw, refusing a
// platform it does not list.
func (p savePlan) keeper(raw []byte) (ocilayout.Keep, error) {
	if p.keep == nil {
		return nil, nil
	}
	m, err := v1.ParseIndexManifest(strings.NewReader(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("parsing the index of %s: %w", p.ref, err)
	}
	var have []string
	for _, want := range p.keep {
		found := false
		for _, d := range m.Manifests {
			if d.Platform != nil && d.Annotations[ocilayout.AnnotationReferenceType] == "" {
				if platform.Same(toOCI(d.Platform), want) {
					found = true
				}
			}
		}
		if !found {
			for _, d := range m.Manifests {
				if d.Platform != nil && d.Annotations[ocilayout.AnnotationReferenceType] == "" {
					have = append(have, merge.FormatPlatform(d.Platform))
				}
			}
			return nil, fmt.Errorf("%s has no %s image (it has %s)", p.ref, platform.Format(want), strings.Join(have, ", "))
		}
	}
	return func(lp *v1.Platform) bool {
		for _, want := range p.keep {
			if lp != nil && platform.Same(toOCI(lp), want) {
				return true
			}
		}
		return false
	}, nil
}

func toOCI(p *v1.Platform) ocispec.Platform {
	return ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures}
}

func platformNames(ps []ocispec.Platform) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = platform.Format(p)
	}
	return out
}

// single writes one image (REF is not an index) and a new index of one
// child around it, the image's platform read from its config; --platform
// must name that platform.
func (p savePlan) single(ctx context.Context, w *ocilayout.Writer, desc *remote.Descriptor) (v1.Descriptor, error) {
	img, err := desc.Image()
	if err != nil {
		return v1.Descriptor{}, err
	}
	if err := w.AddImage(ctx, img); err != nil {
		return v1.Descriptor{}, err
	}
	var c ocilayout.Children
	if err := w.Flatten(&c, v1.Descriptor{MediaType: desc.MediaType, Size: desc.Size, Digest: desc.Digest}); err != nil {
		return v1.Descriptor{}, err
	}
	for _, want := range p.keep {
		if got := c.Images[0].Platform; !platform.Same(toOCI(got), want) {
			return v1.Descriptor{}, fmt.Errorf("%s is one %s image, not %s", p.ref, merge.FormatPlatform(got), platform.Format(want))
		}
	}
	return w.Index(c, nil)
}

// run saves ref into dest.
func (f saveFlags) run(cmd *cobra.Command, ref, dest string) error {
	p, err := f.plan(ref, dest)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	client := merge.New(f.plain.options()...)
	desc, err := client.Fetch(ctx, p.ref)
	if err != nil {
		return err
	}
	w, err := ocilayout.Create(p.dest)
	if err != nil {
		return err
	}
	defer w.Close()
	var top v1.Descriptor
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return fmt.Errorf("reading %s: %w", p.ref, err)
		}
		keep, err := p.keeper(desc.Manifest)
		if err != nil {
			return err
		}
		if top, err = w.AddIndex(ctx, idx, desc.Manifest, keep); err != nil {
			return fmt.Errorf("nothing written to %s: %w", p.dest.Path, err)
		}
	case desc.MediaType.IsImage():
		if top, err = p.single(ctx, w, desc); err != nil {
			return fmt.Errorf("nothing written to %s: %w", p.dest.Path, err)
		}
	default:
		return fmt.Errorf("%s holds %s, neither an image nor an index", p.ref, desc.MediaType)
	}
	// manifest.json: the host's image, for docker load of the classic store.
	tag := ""
	if p.names != nil {
		tag = ref
	}
	docker, err := w.DockerManifestOf(top, func(lp *v1.Platform) bool { return lp != nil && platform.IsHost(toOCI(lp)) }, tag)
	if err != nil {
		return fmt.Errorf("nothing written to %s: %w", p.dest.Path, err)
	}
	if err := w.Commit(top, p.names, docker); err != nil {
		return err
	}
	note := "the registry's index, byte for byte"
	if top.Digest != desc.Digest {
		note = "a new index of " + strings.Join(platformNames(p.keep), ", ") + " from " + desc.Digest.String()
		if !desc.MediaType.IsIndex() {
			note = "a new index around the image " + desc.Digest.String()
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s %s: index %s (%s)\n", p.dest.Kind(), p.dest.Path, top.Digest, note)
	fmt.Fprintln(cmd.OutOrStdout(), top.Digest)
	return nil
}
