package merge

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// CopyTo copies into repo, by digest, each child of idx that lives in
// another repository (blobs are mounted when both share a registry), so
// that idx can then be written under a tag of repo with Tag. It returns
// how many children it copied (not those repo had already). Nothing is tagged. It needs push access to
// repo and pull access to the children's repositories.
func (c *Client) CopyTo(ctx context.Context, idx *Index, repo name.Repository) (int, error) {
	var pull []name.Repository
	for _, ch := range idx.children {
		if ch.repo.Name() != repo.Name() {
			pull = append(pull, ch.repo)
		}
	}
	if len(pull) == 0 {
		return 0, nil
	}
	s, err := c.session(ctx, c.o, []name.Repository{repo}, pull)
	if err != nil {
		return 0, fmt.Errorf("copying into %s: %w", repo, err)
	}
	copied := &copies{done: map[v1.Hash]bool{}}
	if err := copied.copy(ctx, s, repo, idx.children); err != nil {
		return 0, fmt.Errorf("copying into %s: %w", repo, err)
	}
	return copied.count(), nil
}

// Tag writes idx, byte for byte, under tag and reads the tag back: the
// registry must serve idx's digest. It is how one index gets several tags
// (the first written with Write or Merge, the others with Tag). The
// children must already be in tag's repository: in idx.Target's, or copied
// there with CopyTo.
func (c *Client) Tag(ctx context.Context, idx *Index, tag name.Tag) error {
	s, err := c.session(ctx, c.o, []name.Repository{tag.Context()}, nil)
	if err != nil {
		return fmt.Errorf("tagging %s: %w", tag, err)
	}
	if err := remote.Put(tag, rawManifest{raw: idx.Raw, mediaType: idx.MediaType}, s.remote(ctx, tag)...); err != nil {
		return fmt.Errorf("tagging %s: %w", tag, explain(tag.Registry, err))
	}
	return readBack(ctx, s, tag, idx.Digest)
}

// Point writes the manifest or index that src names, byte for byte, under
// tag in the same repository, and reads the tag back (what `crane tag`
// does): an image pushed by digest gets a tag without being rebuilt or
// re-encoded.
func (c *Client) Point(ctx context.Context, src name.Digest, tag name.Tag) error {
	if src.Context().Name() != tag.Context().Name() {
		return fmt.Errorf("%w: tagging %s with %s: not the same repository", ErrInvalid, src, tag)
	}
	s, err := c.session(ctx, c.o, []name.Repository{tag.Context()}, nil)
	if err != nil {
		return fmt.Errorf("tagging %s: %w", tag, err)
	}
	desc, err := remote.Get(src, s.remote(ctx, src)...)
	if err != nil {
		return fmt.Errorf("tagging %s: reading %s: %w", tag, src, explain(tag.Registry, err))
	}
	if desc.Digest.String() != src.DigestStr() {
		return fmt.Errorf("tagging %s: the registry served %s for %s", tag, desc.Digest, src)
	}
	if err := remote.Put(tag, rawManifest{raw: desc.Manifest, mediaType: desc.MediaType}, s.remote(ctx, tag)...); err != nil {
		return fmt.Errorf("tagging %s: %w", tag, explain(tag.Registry, err))
	}
	return readBack(ctx, s, tag, desc.Digest)
}

// readBack checks that tag points at want.
func readBack(ctx context.Context, s *session, tag name.Tag, want v1.Hash) error {
	got, err := headDigest(ctx, s, tag)
	if err != nil {
		return fmt.Errorf("tagging %s: reading back: %w", tag, err)
	}
	if got != want {
		return fmt.Errorf("tagging %s: %w: reading back, the registry serves %s, mab wrote %s", tag, ErrConcurrentWrite, got, want)
	}
	return nil
}
