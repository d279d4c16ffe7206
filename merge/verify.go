package merge

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// Verify reads ref back and checks that it is the index with digest want
// (a zero want skips that comparison), and that the config of each image it
// lists declares the platform the image is listed under. Attestations are
// not images and are skipped. Every mismatch is reported, each wrapping
// ErrPlatformMismatch. It needs pull access.
func (c *Client) Verify(ctx context.Context, ref name.Reference, want v1.Hash) error {
	s, err := c.session(ctx, c.o, nil, []name.Repository{ref.Context()})
	if err != nil {
		return fmt.Errorf("verifying %s: %w", ref, err)
	}
	idx, err := remote.Index(ref, s.remote(ctx, ref)...)
	if err != nil {
		return fmt.Errorf("verifying %s: %w", ref, explain(ref.Context().Registry, err))
	}
	got, err := idx.Digest()
	if err != nil {
		return fmt.Errorf("verifying %s: %w", ref, err)
	}
	if want != (v1.Hash{}) && got != want {
		return fmt.Errorf("verifying %s: registry serves %s, want %s", ref, got, want)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("verifying %s: %w", ref, err)
	}
	errs := make([]error, len(m.Manifests))
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(s.o.jobs)
	for i, d := range m.Manifests {
		if d.Annotations[AnnotationReferenceType] == attestationManifest || !d.MediaType.IsImage() {
			continue
		}
		g.Go(func() error {
			errs[i] = checkChild(ref.String(), i, idx, d)
			return nil
		})
	}
	g.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("verifying %s: %w", ref, err)
	}
	return nil
}

// checkChild checks child pos of the index at ref: its descriptor against
// the manifest served, and the platform it is listed under against its
// config's.
func checkChild(ref string, pos int, idx v1.ImageIndex, d v1.Descriptor) error {
	if err := needDigest(ref, pos, d); err != nil {
		return err
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		return fmt.Errorf("%s: %w", d.Digest, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("%s: %w", d.Digest, err)
	}
	if _, err := described(ref, pos, d, raw); err != nil {
		return err
	}
	actual, err := imageDescriptor(d, img)
	if err != nil {
		return err
	}
	if d.Platform == nil || !agrees(*actual.Platform, *d.Platform) {
		return fmt.Errorf("%w: %s is listed as %s but its config says %s", ErrPlatformMismatch, d.Digest, FormatPlatform(d.Platform), FormatPlatform(actual.Platform))
	}
	return nil
}
