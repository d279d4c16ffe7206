package merge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// amendAttempts bounds how often an amend starts over because another
// writer changed the target meanwhile.
const amendAttempts = 5

// Published is an index that was pushed and read back.
type Published struct {
	Ref       name.Tag
	Digest    v1.Hash
	MediaType types.MediaType
	Size      int64
	Manifest  *v1.IndexManifest
	// Copied counts the children copied from other repositories: those
	// the target repository did not have yet.
	Copied int
	// Unchanged says an amend found every child listed already and wrote
	// nothing.
	Unchanged bool
	// Attempts counts the writes: more than 1 when an amend raced another
	// writer and started over from a fresh read.
	Attempts int
}

// Merge assembles the index of sources (see Assemble), copies into the
// target repository the children that live elsewhere (mounting blobs where
// the registry allows), writes the index last, and reads the tag back: the
// digest the registry serves must be the one written. On any error before
// the write, the target is left as it was.
//
// With WithAmend, an index that already lists every child is not written
// again, and the target is read just before the write, right after it, and
// once more after a short settling time (see WithSettle). If another writer
// changed it before the write, or replaced it afterwards with an index that
// lacks one of the platforms mab added or lists another image for one, the
// merge starts over from a fresh
// read (up to 5 times, after a random pause), so no platform is lost to a
// concurrent amend. Registries offer no compare-and-swap: this narrows the
// race to writes further apart than the settling time, it cannot close it.
//
// It needs push and pull access to the target's repository and pull access
// to the sources'. opts are call options (see Option).
func (c *Client) Merge(ctx context.Context, target name.Tag, sources []Source, opts ...Option) (*Published, error) {
	o, err := forCall(c.o, opts)
	if err != nil {
		return nil, fmt.Errorf("merging into %s: %w", target, err)
	}
	s, err := c.session(ctx, o, []name.Repository{target.Context()}, repositories(sources))
	if err != nil {
		return nil, fmt.Errorf("merging into %s: %w", target, err)
	}
	images, atts, err := collect(ctx, s, sources)
	if err != nil {
		return nil, fmt.Errorf("merging into %s: %w", target, err)
	}
	copied := &copies{done: map[v1.Hash]bool{}}
	for attempt := 1; ; attempt++ {
		pub, err := mergeOnce(ctx, s, target, images, atts, copied)
		if err == nil {
			pub.Attempts, pub.Copied = attempt, copied.count()
			return pub, nil
		}
		if !o.amend || !errors.Is(err, ErrConcurrentWrite) || attempt == amendAttempts {
			return nil, fmt.Errorf("merging into %s: %w", target, err)
		}
		// Two writers that retry in step would collide again.
		if err := sleep(ctx, time.Duration(rand.Int64N(int64(100*time.Millisecond)))*time.Duration(attempt)); err != nil {
			return nil, err
		}
	}
}

// mergeOnce is one read (when amending), copy, write and read-back.
func mergeOnce(ctx context.Context, s *session, target name.Tag, images, atts []child, copied *copies) (*Published, error) {
	var base *current
	if s.o.amend {
		var err error
		if base, err = readTarget(ctx, s, target); err != nil {
			return nil, err
		}
	}
	idx, err := build(s.o, target, images, atts, base)
	if err != nil {
		return nil, err
	}
	if err := copied.copy(ctx, s, target.Context(), idx.children); err != nil {
		return nil, err
	}
	pub := &Published{Ref: target, Digest: idx.Digest, MediaType: idx.MediaType, Size: int64(len(idx.Raw)), Manifest: idx.Manifest}
	if s.o.amend && idx.Digest == idx.Base {
		pub.Unchanged = true
		return pub, nil // the target already lists every child
	}
	if s.o.amend {
		now, err := headDigest(ctx, s, target)
		if err != nil {
			return nil, err
		}
		if now != idx.Base {
			return nil, fmt.Errorf("%w: it was %s when read, %s before the write", ErrConcurrentWrite, idx.Base, now)
		}
	}
	if err := remote.Put(target, rawManifest{raw: idx.Raw, mediaType: idx.MediaType}, s.remote(ctx, target)...); err != nil {
		return nil, fmt.Errorf("pushing index: %w", explain(target.Registry, err))
	}
	got, err := headDigest(ctx, s, target)
	if err != nil {
		return nil, fmt.Errorf("reading back: %w", err)
	}
	if got != idx.Digest {
		return nil, fmt.Errorf("%w: reading back, the registry serves %s, mab pushed %s", ErrConcurrentWrite, got, idx.Digest)
	}
	if s.o.amend {
		if err := settle(ctx, s, target, idx.Digest, images); err != nil {
			return nil, err
		}
	}
	return pub, nil
}

// settle waits s.o.settle and checks that target still lists, for each
// platform of images, the very image mab wrote for it: another amend that
// had read the target before mab's write may have written its own index
// just after it, putting back the image mab replaced, or dropping the
// platform. Either is ErrConcurrentWrite, and the merge starts over from a
// fresh read. A later index that lists mab's images (with other platforms
// added or changed) is someone else's newer amend, and is left alone.
func settle(ctx context.Context, s *session, target name.Tag, wrote v1.Hash, images []child) error {
	if s.o.settle <= 0 {
		return nil
	}
	if err := sleep(ctx, s.o.settle); err != nil {
		return err
	}
	now, err := headDigest(ctx, s, target)
	if err != nil || now == wrote {
		return err
	}
	cur, err := readTarget(ctx, s, target)
	if err != nil {
		return err
	}
	listed := map[string]v1.Hash{}
	for _, c := range cur.images {
		listed[platformKey(c.desc.Platform)] = c.desc.Digest
	}
	for _, c := range images {
		switch d, ok := listed[platformKey(c.desc.Platform)]; {
		case !ok:
			return fmt.Errorf("%w: %s was replaced by %s, which lacks %s", ErrConcurrentWrite, wrote, now, FormatPlatform(c.desc.Platform))
		case d != c.desc.Digest:
			return fmt.Errorf("%w: %s was replaced by %s, which lists %s for %s instead of %s", ErrConcurrentWrite, wrote, now, d, FormatPlatform(c.desc.Platform), c.desc.Digest)
		}
	}
	return nil
}

// headDigest is the digest target points at, zero when it does not exist.
func headDigest(ctx context.Context, s *session, target name.Tag) (v1.Hash, error) {
	d, err := remote.Head(target, s.remote(ctx, target)...)
	if err != nil {
		if err = explain(target.Registry, err); errors.Is(err, ErrNotFound) {
			return v1.Hash{}, nil
		}
		return v1.Hash{}, err
	}
	return d.Digest, nil
}

// copies copies children into the target repository once per merge, even
// when an amend starts over. done maps each child handled to whether it
// was copied (false: the repository had it already).
type copies struct {
	mu   sync.Mutex
	done map[v1.Hash]bool
}

func (c *copies) mark(d v1.Hash, copied bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done[d] = copied
}

// count is how many children were copied.
func (c *copies) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, copied := range c.done {
		if copied {
			n++
		}
	}
	return n
}

// copy writes, by digest, each child not yet in the target's repository.
// The child is read again under ctx (remote objects keep the context they
// were read with); go-containerregistry mounts its blobs when source and
// target share a registry, and streams them otherwise.
func (c *copies) copy(ctx context.Context, s *session, repo name.Repository, children []child) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.o.jobs)
	for _, ch := range children {
		if ch.repo.Name() == repo.Name() || c.isDone(ch.desc.Digest) {
			continue
		}
		g.Go(func() error {
			to := repo.Digest(ch.desc.Digest.String())
			if _, err := remote.Head(to, s.remote(ctx, to)...); err == nil {
				// Already there: nothing to copy but its referrers, when asked.
				if s.o.referrers {
					if err := newReferrerCopy(s, ch.repo, repo).copyAll(ctx, []v1.Hash{ch.desc.Digest}); err != nil {
						return fmt.Errorf("copying the referrers of %s from %s: %w", ch.desc.Digest, ch.source, err)
					}
				}
				c.mark(ch.desc.Digest, false)
				return nil
			}
			from := ch.repo.Digest(ch.desc.Digest.String())
			img, err := remote.Image(from, s.copying(ctx, from)...)
			if err == nil {
				err = remote.Write(to, img, s.copying(ctx, to)...)
			}
			if err != nil {
				return fmt.Errorf("copying %s from %s: %w", ch.desc.Digest, ch.source, explain(repo.Registry, err))
			}
			if s.o.referrers {
				if err := newReferrerCopy(s, ch.repo, repo).copyAll(ctx, []v1.Hash{ch.desc.Digest}); err != nil {
					return fmt.Errorf("copying %s from %s: %w", ch.desc.Digest, ch.source, err)
				}
			}
			c.mark(ch.desc.Digest, true)
			return nil
		})
	}
	return g.Wait()
}

func (c *copies) isDone(d v1.Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.done[d]
	return ok
}
