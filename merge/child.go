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

// resolved is what one source contributed: its images, each with the
// platform read from its config, and its attestation manifests.
type resolved struct {
	images       []v1.Descriptor
	attestations []v1.Descriptor
}

// resolveAll fetches every source concurrently and keeps the results in
// the order of refs.
func resolveAll(ctx context.Context, refs []name.Digest, o options) ([]resolved, error) {
	out := make([]resolved, len(refs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs)
	for i, ref := range refs {
		g.Go(func() error {
			r, err := resolve(ctx, ref, o)
			if err != nil {
				return fmt.Errorf("reading %s: %w", ref, err)
			}
			out[i] = r
			return nil
		})
	}
	return out, g.Wait()
}

// resolve reads one source: an image becomes one child; an index is
// flattened into its images and its attestations.
func resolve(ctx context.Context, ref name.Digest, o options) (resolved, error) {
	desc, err := remote.Get(ref, o.remote(ctx)...)
	if err != nil {
		return resolved{}, err
	}
	switch {
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return resolved{}, err
		}
		d, err := imageDescriptor(desc.Descriptor, img)
		if err != nil {
			return resolved{}, err
		}
		return resolved{images: []v1.Descriptor{d}}, nil
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return resolved{}, err
		}
		return flatten(idx)
	default:
		return resolved{}, fmt.Errorf("unsupported media type %q", desc.MediaType)
	}
}

// flatten turns the children of an index into children of the new index.
// Images get their platform from their config; attestations are kept as
// they are, so their reference digest still names an image that the new
// index lists.
func flatten(idx v1.ImageIndex) (resolved, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return resolved{}, err
	}
	var r resolved
	for _, child := range m.Manifests {
		if child.Annotations[AnnotationReferenceType] == attestationManifest {
			r.attestations = append(r.attestations, child)
			continue
		}
		if !child.MediaType.IsImage() {
			return resolved{}, fmt.Errorf("child %s has media type %q: nested indexes are not supported", child.Digest, child.MediaType)
		}
		img, err := idx.Image(child.Digest)
		if err != nil {
			return resolved{}, err
		}
		d, err := imageDescriptor(child, img)
		if err != nil {
			return resolved{}, err
		}
		r.images = append(r.images, d)
	}
	return r, nil
}

// imageDescriptor returns base with its platform replaced by the one the
// image's config declares. Annotations of base are kept.
func imageDescriptor(base v1.Descriptor, img v1.Image) (v1.Descriptor, error) {
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
