package merge

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Snapshot is what a tag held before a write: enough to put it back byte
// for byte. A zero Digest means the tag did not exist.
type Snapshot struct {
	Target    name.Tag
	Digest    v1.Hash
	MediaType types.MediaType
	Raw       []byte
}

// Exists reports whether the tag held anything.
func (s *Snapshot) Exists() bool { return s != nil && s.Digest != (v1.Hash{}) }

// ErrMoved: the tag no longer holds what mab wrote (another writer came
// after), so mab does not put anything back over it.
var ErrMoved = errors.New("the tag was moved by another writer")

// Snapshot reads what target holds now, authenticating for push as well
// as pull: a publication reads the tag, then writes and reads it back,
// and one token then serves every step.
func (c *Client) Snapshot(ctx context.Context, target name.Tag) (*Snapshot, error) {
	s, err := c.session(ctx, c.o, []name.Repository{target.Context()}, nil)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", target, err)
	}
	desc, err := remote.Get(target, s.remote(ctx, target)...)
	if err != nil {
		if err = explain(target.Registry, err); errors.Is(err, ErrNotFound) {
			return &Snapshot{Target: target}, nil
		}
		return nil, fmt.Errorf("reading %s: %w", target, err)
	}
	return &Snapshot{Target: target, Digest: desc.Digest, MediaType: desc.MediaType, Raw: desc.Manifest}, nil
}

// Write puts the assembled idx under its target, byte for byte. Its
// children must already be in the target's repository (Assemble of
// sources there, as mab build's are); Merge copies them when they are not.
func (c *Client) Write(ctx context.Context, idx *Index) error {
	target := idx.Target
	s, err := c.session(ctx, c.o, []name.Repository{target.Context()}, nil)
	if err != nil {
		return fmt.Errorf("writing %s: %w", target, err)
	}
	for _, ch := range idx.children {
		if ch.repo.Name() != target.Context().Name() {
			return fmt.Errorf("%w: writing %s: child %s lives in %s; use Merge, which copies it", ErrInvalid, target, ch.desc.Digest, ch.repo)
		}
	}
	if err := remote.Put(target, rawManifest{raw: idx.Raw, mediaType: idx.MediaType}, s.remote(ctx, target)...); err != nil {
		return fmt.Errorf("writing %s: %w", target, explain(target.Registry, err))
	}
	return nil
}

// Restore puts prev back under its tag if the tag still holds wrote, the
// index mab wrote and could not confirm, and reads it back. It returns
// ErrMoved when the tag holds something else (another writer's index is
// not mab's to replace), and ErrInvalid when there was nothing before:
// registries cannot be asked reliably to remove a tag.
func (c *Client) Restore(ctx context.Context, prev *Snapshot, wrote v1.Hash) error {
	target := prev.Target
	if !prev.Exists() {
		return fmt.Errorf("%w: %s held nothing before, and a tag cannot be removed reliably", ErrInvalid, target)
	}
	s, err := c.session(ctx, c.o, []name.Repository{target.Context()}, nil)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", target, err)
	}
	now, err := headDigest(ctx, s, target)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", target, err)
	}
	switch now {
	case prev.Digest:
		return nil // already back (or never moved)
	case wrote:
	default:
		return fmt.Errorf("restoring %s: %w: it holds %s, neither %s (written) nor %s (before)", target, ErrMoved, now, wrote, prev.Digest)
	}
	if err := remote.Put(target, rawManifest{raw: prev.Raw, mediaType: prev.MediaType}, s.remote(ctx, target)...); err != nil {
		return fmt.Errorf("restoring %s: %w", target, explain(target.Registry, err))
	}
	if now, err = headDigest(ctx, s, target); err != nil {
		return fmt.Errorf("restoring %s: reading back: %w", target, err)
	}
	if now != prev.Digest {
		return fmt.Errorf("restoring %s: %w: it holds %s after the restore", target, ErrMoved, now)
	}
	return nil
}

// Head is the digest target points at now; zero when it does not exist.
func (c *Client) Head(ctx context.Context, target name.Tag) (v1.Hash, error) {
	s, err := c.session(ctx, c.o, nil, []name.Repository{target.Context()})
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading %s: %w", target, err)
	}
	return headDigest(ctx, s, target)
}
