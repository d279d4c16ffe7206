package pipeline

import (
	"bytes"
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
)

// SaveOptions are the arguments and flags of `mab save`.
type SaveOptions struct {
	Ref, Dest  string
	Tar, Force bool
	// Platforms keeps only these images of the index (--platform).
	Platforms []string
	// NameOptions parse Ref (name.Insecure for a plain-HTTP registry).
	NameOptions []name.Option
}

// SavePlan is a save that passed every check that needs no registry.
type SavePlan struct {
	Ref  name.Reference
	Dest ocilayout.Destination
	// Keep is --platform; nil keeps the index whole, byte for byte.
	Keep []ocispec.Platform
	// Names name the image in index.json when Ref has a tag.
	Names map[string]string
	tag   string
}

// NewSavePlan checks the reference, the platforms and the destination.
func NewSavePlan(o SaveOptions) (*SavePlan, error) {
	r, err := name.ParseReference(o.Ref, o.NameOptions...)
	if err != nil {
		return nil, fmt.Errorf("invalid reference %s: %s", clip(o.Ref), merge.Printable(err.Error()))
	}
	p := &SavePlan{Ref: r, Dest: ocilayout.Destination{Path: o.Dest, Tar: o.Tar, Force: o.Force}}
	if len(o.Platforms) > 0 {
		if p.Keep, err = platform.ParseList(o.Platforms); err != nil {
			return nil, fmt.Errorf("invalid --platform: %w", err)
		}
	}
	if _, tagged := r.(name.Tag); tagged {
		if p.Names, err = ocilayout.Names(o.Ref); err != nil {
			return nil, err
		}
		p.tag = o.Ref
	}
	if err := p.Dest.Check(); err != nil {
		return nil, err
	}
	return p, nil
}

// Saved is what Save wrote: the index in the layout and what it came
// from.
type Saved struct {
	Index  v1.Descriptor
	Source v1.Descriptor
}

// Note says in a few words what the layout's index is.
func (p *SavePlan) Note(s *Saved) string {
	switch {
	case s.Index.Digest == s.Source.Digest:
		return "the registry's index, byte for byte"
	case !s.Source.MediaType.IsIndex():
		return "a new index around the image " + s.Source.Digest.String()
	}
	plats := make([]string, len(p.Keep))
	for i, k := range p.Keep {
		plats[i] = platform.Format(k)
	}
	return "a new index of " + strings.Join(plats, ", ") + " from " + s.Source.Digest.String()
}

// Save reads what p.Ref holds through client and writes it into p.Dest:
// the whole index byte for byte, or (with Keep) a new index of those
// images and their attestations, or, for one image, a new index of one.
// The layout also has a manifest.json of the host's image, for docker
// load of the classic store. Nothing is written when a step fails.
func Save(ctx context.Context, client *merge.Client, p *SavePlan) (*Saved, error) {
	desc, err := client.Fetch(ctx, p.Ref)
	if err != nil {
		return nil, err
	}
	w, err := ocilayout.Create(p.Dest)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	s := &Saved{Source: desc.Descriptor}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p.Ref, err)
		}
		keep, err := p.keeper(desc.Manifest)
		if err != nil {
			return nil, err
		}
		if s.Index, err = w.AddIndex(ctx, idx, desc.Manifest, keep); err != nil {
			return nil, fmt.Errorf("nothing written to %s: %w", p.Dest.Path, err)
		}
	case desc.MediaType.IsImage():
		if s.Index, err = p.single(ctx, w, desc); err != nil {
			return nil, fmt.Errorf("nothing written to %s: %w", p.Dest.Path, err)
		}
	default:
		return nil, fmt.Errorf("%s holds %s, neither an image nor an index", p.Ref, merge.Printable(string(desc.MediaType)))
	}
	docker, err := w.DockerManifestOf(s.Index, func(lp *v1.Platform) bool { return lp != nil && platform.IsHost(toOCI(lp)) }, p.tag)
	if err != nil {
		return nil, fmt.Errorf("nothing written to %s: %w", p.Dest.Path, err)
	}
	if err := w.Commit(s.Index, p.Names, docker); err != nil {
		return nil, err
	}
	return s, nil
}

// keeper returns the Keep of --platform for the index raw, refusing a
// platform it does not list.
func (p *SavePlan) keeper(raw []byte) (ocilayout.Keep, error) {
	if p.Keep == nil {
		return nil, nil
	}
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing the index of %s: %w", p.Ref, err)
	}
	var have []string
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Annotations[ocilayout.AnnotationReferenceType] == "" {
			have = append(have, merge.FormatPlatform(d.Platform))
		}
	}
	keep := func(lp *v1.Platform) bool {
		for _, want := range p.Keep {
			if lp != nil && platform.Same(toOCI(lp), want) {
				return true
			}
		}
		return false
	}
	for _, want := range p.Keep {
		found := false
		for _, d := range m.Manifests {
			if d.Platform != nil && d.Annotations[ocilayout.AnnotationReferenceType] == "" && platform.Same(toOCI(d.Platform), want) {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s has no %s image (it has %s)", p.Ref, platform.Format(want), strings.Join(have, ", "))
		}
	}
	return keep, nil
}

// single writes one image and a new index of one around it, the image's
// platform read from its config; --platform must name that platform.
func (p *SavePlan) single(ctx context.Context, w *ocilayout.Writer, desc *remote.Descriptor) (v1.Descriptor, error) {
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
	for _, want := range p.Keep {
		if got := c.Images[0].Platform; !platform.Same(toOCI(got), want) {
			return v1.Descriptor{}, fmt.Errorf("%s is one %s image, not %s", p.Ref, merge.FormatPlatform(got), platform.Format(want))
		}
	}
	return w.Index(c, nil)
}
