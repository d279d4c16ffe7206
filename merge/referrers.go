package merge

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// maxReferrers bounds how many referrers one copy follows, so a registry
// that lists referrers without end cannot keep mab copying forever.
const maxReferrers = 10000

// referrerCopy copies the OCI referrers of subjects (signatures, SBOMs,
// attestations attached with cosign or oras), and theirs in turn, and
// the signatures, attestations and SBOMs that cosign keeps under tags
// (sha256-<hex>.sig, .att, .sbom), from
// one repository into another. A referrer is found through the
// registry's referrers API, or where it has none, the referrers tag
// (sha256-<hex>); it is written into the target repository by digest,
// byte for byte, where go-containerregistry updates the target's
// referrers tag when that registry has no referrers API. Each referrer is
// copied once per referrerCopy.
type referrerCopy struct {
	s        *session
	from, to name.Repository

	mu     sync.Mutex
	seen   map[v1.Hash]bool
	copied int
}

func newReferrerCopy(s *session, from, to name.Repository) *referrerCopy {
	return &referrerCopy{s: s, from: from, to: to, seen: map[v1.Hash]bool{}}
}

// copyAll copies the referrers of every subject, and of those referrers,
// concurrently. A referrer listed and not readable is an error that names
// it and its subject.
func (r *referrerCopy) copyAll(ctx context.Context, subjects []v1.Hash) error {
	for len(subjects) > 0 {
		var next []v1.Hash
		var mu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.s.o.jobs)
		for _, sub := range subjects {
			g.Go(func() error {
				found, err := r.copyOf(gctx, sub)
				mu.Lock()
				next = append(next, found...)
				mu.Unlock()
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		subjects = next
	}
	return nil
}

// copyOf copies the referrers of sub not copied yet and returns their digests.
func (r *referrerCopy) copyOf(ctx context.Context, sub v1.Hash) ([]v1.Hash, error) {
	subject := r.from.Digest(sub.String())
	list, err := remote.Referrers(subject, r.s.remote(ctx, subject)...)
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", subject, explain(r.from.Registry, err))
	}
	m, err := list.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", subject, err)
	}
	var found []v1.Hash
	for _, d := range m.Manifests {
		r.mu.Lock()
		dup := r.seen[d.Digest]
		r.seen[d.Digest] = true
		over := len(r.seen) > maxReferrers
		r.mu.Unlock()
		if over {
			return nil, fmt.Errorf("%w: more than %d referrers under %s", ErrInvalid, maxReferrers, r.from)
		}
		if dup {
			continue
		}
		if _, err := copyManifest(ctx, r.s, r.from.Digest(d.Digest.String()), r.to); err != nil {
			return nil, fmt.Errorf("copying referrer %s (%s) of %s: %w", d.Digest, Printable(d.ArtifactType), sub, err)
		}
		r.mu.Lock()
		r.copied++
		r.mu.Unlock()
		found = append(found, d.Digest)
	}
	if err := r.copyCosignTags(ctx, sub); err != nil {
		return nil, err
	}
	return found, nil
}

// cosignSuffixes are the tags cosign writes, without the OCI 1.1
// referrers, next to what it signs: sha256-<hex>.sig, .att and .sbom.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// copyCosignTags copies the signature, attestation and SBOM that cosign
// stored under tags named for sub, each under the same tag in the target
// repository. A tag that does not exist is skipped; one that cannot be
// read is an error.
func (r *referrerCopy) copyCosignTags(ctx context.Context, sub v1.Hash) error {
	for _, suffix := range cosignSuffixes {
		from := r.from.Tag(sub.Algorithm + "-" + sub.Hex + suffix)
		desc, err := remote.Get(from, r.s.copying(ctx, from)...)
		if err != nil {
			if err = explain(r.from.Registry, err); errors.Is(err, ErrNotFound) {
				continue
			}
			return fmt.Errorf("reading cosign's %s of %s: %w", suffix, sub, err)
		}
		if err := writeManifest(ctx, r.s, desc, r.to); err != nil {
			return fmt.Errorf("copying cosign's %s of %s: %w", suffix, sub, err)
		}
		to := r.to.Tag(from.TagStr())
		if err := remote.Put(to, rawManifest{raw: desc.Manifest, mediaType: desc.MediaType}, r.s.remote(ctx, to)...); err != nil {
			return fmt.Errorf("copying cosign's %s of %s: writing %s: %w", suffix, sub, to, explain(to.Registry, err))
		}
		r.mu.Lock()
		r.copied++
		r.mu.Unlock()
	}
	return nil
}

// count is how many referrers were copied.
func (r *referrerCopy) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.copied
}
