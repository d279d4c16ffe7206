package merge

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Verify reads ref back and checks that it is the index with digest want,
// and that the config of each image it lists declares the platform the
// image is listed under. Every mismatch is reported.
func Verify(ctx context.Context, ref name.Reference, want v1.Hash, opts ...Option) error {
	o := makeOptions(opts)
	idx, err := remote.Index(ref, o.remote(ctx)...)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", ref, err)
	}
	got, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("verifying %s: %w", ref, err)
	}
	if got != want {
		return fmt.Errorf("verifying %s: registry serves %s, want %s", ref, got, want)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("verifying %s: %w", ref, err)
	}
	var errs []error
	for _, d := range m.Manifests {
		if d.Annotations[AnnotationReferenceType] == attestationManifest {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.Digest, err))
			continue
		}
		actual, err := imageDescriptor(d, img)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if listed, real := FormatPlatform(d.Platform), FormatPlatform(actual.Platform); listed != real {
			errs = append(errs, fmt.Errorf("%s is listed as %s but its config says %s", d.Digest, listed, real))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("verifying %s: %w", ref, err)
	}
	return nil
}
