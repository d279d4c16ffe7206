package merge

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// current is what the target holds before an amend.
type current struct {
	digest       v1.Hash
	images       []child
	attestations []child
	annotations  map[string]string
}

// readTarget reads the index at target, to be amended. A missing target is
// an empty index; a single image there becomes its one child.
func readTarget(ctx context.Context, s *session, target name.Tag) (*current, error) {
	desc, err := remote.Get(target, s.remote(ctx, target)...)
	if err != nil {
		if err = explain(target.Registry, err); errors.Is(err, ErrNotFound) {
			return &current{}, nil
		}
		return nil, fmt.Errorf("reading %s to amend it: %w", target, err)
	}
	cur := &current{digest: desc.Digest}
	here := func(d v1.Descriptor) child {
		return child{desc: d, source: target.String(), repo: target.Context()}
	}
	switch {
	case desc.MediaType.IsIndex():
		m, err := v1.ParseIndexManifest(bytesReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("reading %s to amend it: %w", target, err)
		}
		cur.annotations = m.Annotations
		for pos, d := range m.Manifests {
			if err := needDigest(target.String(), pos, d); err != nil {
				return nil, fmt.Errorf("reading %s to amend it: %w", target, err)
			}
			if d.Annotations[AnnotationReferenceType] == attestationManifest {
				cur.attestations = append(cur.attestations, here(d))
			} else {
				cur.images = append(cur.images, here(d))
			}
		}
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("reading %s to amend it: %w", target, err)
		}
		base := desc.Descriptor
		base.Annotations = nil // the manifest's own, which remote.Get copies: not the descriptor's
		d, err := imageDescriptor(base, img)
		if err != nil {
			return nil, fmt.Errorf("reading %s to amend it: %w", target, err)
		}
		cur.images = []child{here(d)}
	default:
		return nil, fmt.Errorf("reading %s to amend it: unsupported media type %q", target, desc.MediaType)
	}
	return cur, nil
}
