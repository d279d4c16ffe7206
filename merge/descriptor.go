package merge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// DescriptorError is a child of an index whose descriptor does not
// describe the manifest the registry serves for it, or that names no
// digest. containerd refuses such an index when it pulls it, so mab
// neither builds on one nor writes one. It matches ErrBadDescriptor.
type DescriptorError struct {
	// Index is the index that lists the child, as the user named it.
	Index string
	// Position is the child's place among the index's manifests, from 0.
	Position int
	// Digest is the child's digest as listed; zero when it names none.
	Digest v1.Hash
	// Field is what disagrees: "digest", "size" or "mediaType".
	Field string
	// Listed is the field's value in the index; Served the value of the
	// manifest the registry serves ("" when the digest is missing).
	Listed, Served string
}

// Error implements error.
func (e *DescriptorError) Error() string {
	child := fmt.Sprintf("child %d", e.Position)
	if e.Digest != (v1.Hash{}) {
		child += " (" + e.Digest.String() + ")"
	}
	if e.Served == "" {
		return fmt.Sprintf("%v: %s lists %s without a %s", ErrBadDescriptor, Printable(e.Index), child, e.Field)
	}
	return fmt.Sprintf("%v: %s lists %s with %s %s, but its manifest has %s %s",
		ErrBadDescriptor, Printable(e.Index), child, e.Field, Printable(e.Listed), e.Field, Printable(e.Served))
}

// Unwrap lets errors.Is find ErrBadDescriptor.
func (e *DescriptorError) Unwrap() error { return ErrBadDescriptor }

// needDigest refuses a child that names no digest (one that would be
// written back as "digest":":").
func needDigest(index string, pos int, d v1.Descriptor) error {
	if d.Digest.Algorithm == "" || d.Digest.Hex == "" {
		return &DescriptorError{Index: index, Position: pos, Field: "digest"}
	}
	return nil
}

// described checks d, the descriptor of child pos of index, against raw,
// the manifest the registry served for it, and returns d with the size
// and media type of raw.
func described(index string, pos int, d v1.Descriptor, raw []byte) (v1.Descriptor, error) {
	if err := needDigest(index, pos, d); err != nil {
		return v1.Descriptor{}, err
	}
	bad := func(field, listed, served string) error {
		return &DescriptorError{Index: index, Position: pos, Digest: d.Digest, Field: field, Listed: listed, Served: served}
	}
	if d.Digest.Algorithm == "sha256" {
		h, _, err := v1.SHA256(bytes.NewReader(raw))
		if err != nil {
			return v1.Descriptor{}, err
		}
		if h != d.Digest {
			return v1.Descriptor{}, bad("digest", d.Digest.String(), h.String())
		}
	}
	if size := int64(len(raw)); size != d.Size {
		return v1.Descriptor{}, bad("size", fmt.Sprint(d.Size), fmt.Sprint(size))
	}
	mt, err := manifestMediaType(raw)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("child %d (%s) of %s: %w", pos, d.Digest, Printable(index), err)
	}
	if mt != d.MediaType {
		return v1.Descriptor{}, bad("mediaType", string(d.MediaType), string(mt))
	}
	return d, nil
}

// manifestMediaType is the media type a manifest declares; an OCI
// manifest may leave it out, and is then known by its config's.
func manifestMediaType(raw []byte) (types.MediaType, error) {
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    struct {
			MediaType types.MediaType `json:"mediaType"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", fmt.Errorf("parsing manifest: %w", err)
	}
	switch {
	case m.MediaType != "":
		return m.MediaType, nil
	case m.Manifests != nil:
		return types.OCIImageIndex, nil
	case m.Config.MediaType == types.DockerConfigJSON:
		return types.DockerManifestSchema2, nil
	}
	return types.OCIManifestSchema1, nil
}

// ggcrDigestMismatch is go-containerregistry's error (an untyped one) for
// a manifest fetched by digest whose bytes have another digest.
// TestLyingSourceIndexIsRefused pins it.
var ggcrDigestMismatch = regexp.MustCompile(`manifest digest: "([^"]+)" does not match requested digest`)

// childError names child pos of index in err, a failure to fetch its
// manifest; a manifest whose bytes do not have the listed digest is a
// *DescriptorError.
func childError(index string, pos int, d v1.Descriptor, err error) error {
	if m := ggcrDigestMismatch.FindStringSubmatch(err.Error()); m != nil {
		return &DescriptorError{Index: index, Position: pos, Digest: d.Digest, Field: "digest", Listed: d.Digest.String(), Served: m[1]}
	}
	return fmt.Errorf("child %d (%s): %w", pos, d.Digest, err)
}
