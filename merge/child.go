package merge

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Annotation keys BuildKit puts on attestation manifests.
const (
	AnnotationReferenceType   = "vnd.docker.reference.type"
	AnnotationReferenceDigest = "vnd.docker.reference.digest"
	attestationManifest       = "attestation-manifest"
)

// child is one entry of the index being assembled and where it lives.
type child struct {
	desc   v1.Descriptor
	source string          // the source it came from, for messages
	repo   name.Repository // the repository that holds it now
}

// resolved is what one source contributed: its images, each with the
// platform read from its config, and its attestation manifests.
type resolved struct {
	images       []child
	attestations []child
}

// resolveAll fetches every source concurrently and keeps the results in
// the order of sources.
func resolveAll(ctx context.Context, s *session, sources []Source) ([]resolved, error) {
	out := make([]resolved, len(sources))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.jobs)
	for i, src := range sources {
		g.Go(func() error {
			r, err := resolve(ctx, s, src)
			if err != nil {
				return fmt.Errorf("reading source %s: %w", src, explain(src.Ref.Context().Registry, err))
			}
			out[i] = r
			return nil
		})
	}
	return out, g.Wait()
}

// resolve reads one source: an image becomes one child; an index is
// flattened into its images and its attestations.
func resolve(ctx context.Context, s *session, src Source) (resolved, error) {
	desc, err := remote.Get(src.Ref, s.remote(ctx, src.Ref)...)
	if err != nil {
		return resolved{}, err
	}
	switch {
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return resolved{}, err
		}
		// Size and digest are the served manifest's; so is the media
		// type, from the manifest rather than the Content-Type.
		base := desc.Descriptor
		base.Annotations = nil // the manifest's own, which remote.Get copies: not the descriptor's
		if mt, err := manifestMediaType(desc.Manifest); err == nil {
			base.MediaType = mt
		}
		d, err := imageDescriptor(base, img)
		if err != nil {
			return resolved{}, err
		}
		if src.Platform != nil {
			p, err := override(*d.Platform, *src.Platform, s.o.force)
			if err != nil {
				return resolved{}, err
			}
			d.Platform = &p
		}
		c := child{desc: d, source: src.String(), repo: src.Ref.Context()}
		return resolved{images: []child{c}}, nil
	case desc.MediaType.IsIndex():
		if src.Platform != nil {
			return resolved{}, tag(fmt.Errorf("%w: a platform override needs a single image, and this is an index", ErrInvalid), ErrOverrideOfIndex)
		}
		idx, err := desc.ImageIndex()
		if err != nil {
			return resolved{}, err
		}
		return flatten(ctx, s, idx, src)
	default:
		return resolved{}, fmt.Errorf("unsupported media type %q", desc.MediaType)
	}
}

// flatten turns the children of an index into children of the new index,
// fetching each child's manifest (and, for images, config) concurrently.
// A child's descriptor must describe the manifest served for it: its
// size, media type and digest are checked, and a lie is a
// *DescriptorError. Images get their platform from their config;
// attestations are kept as they are, so their reference digest still
// names an image that the new index lists.
func flatten(ctx context.Context, s *session, idx v1.ImageIndex, src Source) (resolved, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return resolved{}, err
	}
	var r resolved
	// Where each child goes: r.images[i] or r.attestations[i].
	type slot struct {
		list *[]child
		i    int
	}
	slots := make([]slot, len(m.Manifests))
	for pos, d := range m.Manifests {
		if err := needDigest(src.String(), pos, d); err != nil {
			return resolved{}, err
		}
		c := child{desc: d, source: src.String(), repo: src.Ref.Context()}
		switch {
		case d.Annotations[AnnotationReferenceType] == attestationManifest:
			slots[pos] = slot{&r.attestations, len(r.attestations)}
			r.attestations = append(r.attestations, c)
		case d.MediaType.IsImage():
			slots[pos] = slot{&r.images, len(r.images)}
			r.images = append(r.images, c)
		default:
			return resolved{}, fmt.Errorf("child %s has media type %q: nested indexes are not supported", d.Digest, d.MediaType)
		}
	}
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(s.o.jobs)
	for pos, d := range m.Manifests {
		g.Go(func() error {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return childError(src.String(), pos, d, err)
			}
			raw, err := img.RawManifest()
			if err != nil {
				return childError(src.String(), pos, d, err)
			}
			checked, err := described(src.String(), pos, d, raw)
			if err != nil {
				return err
			}
			out := &(*slots[pos].list)[slots[pos].i]
			if slots[pos].list == &r.attestations {
				out.desc = checked
				return nil
			}
			out.desc, err = imageDescriptor(checked, img)
			return err
		})
	}
	return r, g.Wait()
}

// imageDescriptor returns base with its platform replaced by the one the
// image's config declares. Annotations of base are kept. A config declared
// larger than MaxConfigSize is not read.
func imageDescriptor(base v1.Descriptor, img v1.Image) (v1.Descriptor, error) {
	m, err := img.Manifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading manifest of %s: %w", base.Digest, err)
	}
	if m.Config.Size > MaxConfigSize {
		return v1.Descriptor{}, &TooLargeError{What: "config", Where: base.Digest.String() + "'s config " + m.Config.Digest.String(), Size: m.Config.Size, Limit: MaxConfigSize}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading config of %s: %w", base.Digest, err)
	}
	if cfg.OS == "" || cfg.Architecture == "" {
		return v1.Descriptor{}, fmt.Errorf("config of %s names no os/architecture", base.Digest)
	}
	return v1.Descriptor{
		MediaType:   base.MediaType,
		Size:        base.Size,
		Digest:      base.Digest,
		Annotations: base.Annotations,
		Platform: &v1.Platform{
			OS:           cfg.OS,
			Architecture: cfg.Architecture,
			Variant:      cfg.Variant,
			OSVersion:    cfg.OSVersion,
			OSFeatures:   cfg.OSFeatures,
		},
	}, nil
}

// isDocker reports whether every child is a Docker v2 image manifest, the
// only case in which a Docker manifest list can describe them.
func isDocker(children []v1.Descriptor) bool {
	for _, c := range children {
		if c.MediaType != types.DockerManifestSchema2 {
			return false
		}
	}
	return len(children) > 0
}
