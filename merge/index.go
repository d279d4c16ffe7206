package merge

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// MaxManifestSize is the largest manifest registries accept (4 MiB).
const MaxManifestSize = 4 << 20

// Published is an index that was pushed and read back.
type Published struct {
	Ref       name.Tag
	Digest    v1.Hash
	MediaType types.MediaType
	Size      int64
	Manifest  *v1.IndexManifest
}

// Assemble reads every source (by digest, never by tag) and returns the raw
// index that lists them: images in the order of sources, then attestations.
// It is a Docker manifest list when every image is a Docker v2 manifest and
// there is no attestation, an OCI image index otherwise. Two images for the
// same platform are an error.
func Assemble(ctx context.Context, sources []name.Digest, opts ...Option) ([]byte, types.MediaType, error) {
	o := makeOptions(opts)
	if len(sources) == 0 {
		return nil, "", fmt.Errorf("assembling index: no source")
	}
	parts, err := resolveAll(ctx, sources, o)
	if err != nil {
		return nil, "", fmt.Errorf("assembling index: %w", err)
	}
	var images, attestations []v1.Descriptor
	seen := map[string]v1.Hash{}
	for _, p := range parts {
		for _, d := range p.images {
			key := FormatPlatform(d.Platform)
			if prev, dup := seen[key]; dup {
				return nil, "", fmt.Errorf("assembling index: %s and %s are both %s", prev, d.Digest, key)
			}
			seen[key] = d.Digest
			images = append(images, d)
		}
		attestations = append(attestations, p.attestations...)
	}
	children := append(images, attestations...)
	mt := types.OCIImageIndex
	if isDocker(children) {
		mt = types.DockerManifestList
	}
	raw, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: mt, Manifests: children})
	if err != nil {
		return nil, "", fmt.Errorf("assembling index: %w", err)
	}
	if len(raw) > MaxManifestSize {
		return nil, "", fmt.Errorf("assembling index: %d bytes is over the registries' limit of %d", len(raw), MaxManifestSize)
	}
	return raw, mt, nil
}

// Push assembles the index of sources, writes it to target and reads the
// tag back: the digest the registry serves must be the one written.
func Push(ctx context.Context, target name.Tag, sources []name.Digest, opts ...Option) (*Published, error) {
	raw, mt, err := Assemble(ctx, sources, opts...)
	if err != nil {
		return nil, err
	}
	o := makeOptions(opts)
	want, _, err := v1.SHA256(bytesReader(raw))
	if err != nil {
		return nil, err
	}
	if err := remote.Put(target, rawManifest{raw: raw, mediaType: mt}, o.remote(ctx)...); err != nil {
		return nil, fmt.Errorf("pushing index %s: %w", target, err)
	}
	got, err := remote.Head(target, o.remote(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("reading back %s: %w", target, err)
	}
	if got.Digest != want {
		return nil, fmt.Errorf("reading back %s: registry serves %s, mab pushed %s (another writer?)", target, got.Digest, want)
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return &Published{Ref: target, Digest: want, MediaType: mt, Size: int64(len(raw)), Manifest: &m}, nil
}
