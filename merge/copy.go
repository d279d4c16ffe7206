package merge

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Copied is what Copy copied.
type Copied struct {
	// Src is the reference copied; Dst the tag written, or the digest
	// reference in the target repository when no tag was asked for.
	Src, Dst  name.Reference
	Digest    v1.Hash
	MediaType types.MediaType
	// Manifests counts the manifests copied: the image or index and, of
	// an index, every child (images and attestation manifests).
	Manifests int
	// Referrers counts the referrers copied (see WithReferrers).
	Referrers int
}

// Copy copies the image or index that src names into dst's repository,
// byte for byte, so its digest is the same there: every child manifest
// (images and attestation manifests) and every blob, mounted when both
// repositories share a registry and streamed otherwise. With
// WithReferrers, the OCI referrers of the index and of each child are
// copied too (and theirs in turn). dst is a tag, written last, only
// when everything else is there, and read back; or a digest reference,
// which must be src's digest, and then no tag is written.
//
// Copying onto itself (dst the same tag as src, or a digest in src's own
// repository) is refused with ErrInvalid. A child, blob or referrer that
// cannot be read fails the copy, and dst's tag is left as it was; what
// was copied by digest stays in the target repository, untagged.
//
// It needs pull access to src's repository and push and pull access to
// dst's. opts are call options (see Option).
func (c *Client) Copy(ctx context.Context, src, dst name.Reference, opts ...Option) (*Copied, error) {
	o, err := forCall(c.o, opts)
	if err != nil {
		return nil, fmt.Errorf("copying %s: %w", src, err)
	}
	if err := notItself(src, dst); err != nil {
		return nil, err
	}
	to := dst.Context()
	s, err := c.session(ctx, o, []name.Repository{to}, []name.Repository{src.Context()})
	if err != nil {
		return nil, fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	root, err := remote.Get(src, s.copying(ctx, src)...)
	if err != nil {
		return nil, fmt.Errorf("copying %s: reading it: %w", src, explain(src.Context().Registry, err))
	}
	if d, ok := dst.(name.Digest); ok && d.DigestStr() != root.Digest.String() {
		return nil, fmt.Errorf("%w: %s holds %s, and the target names another digest, %s", ErrInvalid, src, root.Digest, d.DigestStr())
	}
	subjects, err := manifestDigests(root)
	if err != nil {
		return nil, fmt.Errorf("copying %s: %w", src, err)
	}
	from := src.Context()
	if err := writeManifest(ctx, s, root, to); err != nil {
		return nil, fmt.Errorf("copying %s to %s: %w", src, to, err)
	}
	out := &Copied{Src: src, Dst: to.Digest(root.Digest.String()), Digest: root.Digest, MediaType: root.MediaType, Manifests: len(subjects)}
	if o.referrers {
		rc := newReferrerCopy(s, from, to)
		if err := rc.copyAll(ctx, subjects); err != nil {
			return nil, fmt.Errorf("copying %s to %s: %w; %s was not written", src, to, err, dst)
		}
		out.Referrers = rc.count()
	}
	tag, ok := dst.(name.Tag)
	if !ok {
		return out, nil
	}
	if err := remote.Put(tag, rawManifest{raw: root.Manifest, mediaType: root.MediaType}, s.remote(ctx, tag)...); err != nil {
		return nil, fmt.Errorf("copying %s: writing %s: %w", src, tag, explain(tag.Registry, err))
	}
	if err := readBack(ctx, s, tag, root.Digest); err != nil {
		return nil, err
	}
	out.Dst = tag
	return out, nil
}

// notItself refuses a copy whose target is its source.
func notItself(src, dst name.Reference) error {
	if src.Context().Name() != dst.Context().Name() {
		return nil
	}
	_, toDigest := dst.(name.Digest)
	if toDigest || src.Name() == dst.Name() {
		return fmt.Errorf("%w: copying %s onto itself: give another repository, registry or tag", ErrInvalid, src)
	}
	return nil
}

// manifestDigests are the digests of root and, for an index, of every
// manifest under it, in order.
func manifestDigests(root *remote.Descriptor) ([]v1.Hash, error) {
	out := []v1.Hash{root.Digest}
	if !root.MediaType.IsIndex() {
		return out, nil
	}
	idx, err := root.ImageIndex()
	if err != nil {
		return nil, err
	}
	var walk func(v1.ImageIndex) error
	walk = func(idx v1.ImageIndex) error {
		m, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range m.Manifests {
			out = append(out, d.Digest)
			if d.MediaType.IsIndex() {
				child, err := idx.ImageIndex(d.Digest)
				if err != nil {
					return fmt.Errorf("reading child index %s: %w", d.Digest, err)
				}
				if err := walk(child); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(idx)
}

// copyManifest copies the manifest or index from names into the
// repository to, by digest and byte for byte, with every blob and child
// it needs, and returns its descriptor.
func copyManifest(ctx context.Context, s *session, from name.Digest, to name.Repository) (*remote.Descriptor, error) {
	desc, err := remote.Get(from, s.copying(ctx, from)...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", from, explain(from.Registry, err))
	}
	return desc, writeManifest(ctx, s, desc, to)
}

// writeManifest writes desc, read with s.copying, into the repository
// to, by digest and byte for byte, with every blob and child it needs.
func writeManifest(ctx context.Context, s *session, desc *remote.Descriptor, to name.Repository) error {
	dst := to.Digest(desc.Digest.String())
	var err error
	switch {
	case desc.MediaType.IsIndex():
		var idx v1.ImageIndex
		if idx, err = desc.ImageIndex(); err == nil {
			err = remote.WriteIndex(dst, idx, s.copying(ctx, dst)...)
		}
	case desc.MediaType.IsImage():
		var img v1.Image
		if img, err = desc.Image(); err == nil {
			err = remote.Write(dst, img, s.copying(ctx, dst)...)
		}
	default:
		return fmt.Errorf("%s has media type %q, which mab does not copy", desc.Digest, Printable(string(desc.MediaType)))
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", dst, explain(to.Registry, err))
	}
	return nil
}
