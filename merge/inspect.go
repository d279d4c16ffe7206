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

// Listing is what a reference holds: an index and its children, or a
// single image (then Children has one entry, the image itself).
type Listing struct {
	Ref       string          `json:"ref"`
	Digest    v1.Hash         `json:"digest"`
	MediaType types.MediaType `json:"mediaType"`
	Size      int64           `json:"size"`
	// Index is false when Ref names a single image.
	Index    bool    `json:"index"`
	Children []Child `json:"manifests"`
	// Raw is the manifest as the registry served it.
	Raw json.RawMessage `json:"-"`
}

// Child is one entry of an index.
type Child struct {
	Platform    string            `json:"platform"`
	Digest      v1.Hash           `json:"digest"`
	Size        int64             `json:"size"`
	MediaType   types.MediaType   `json:"mediaType"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Attestation is true for an attestation manifest; ReferenceOf is then
	// the digest of the image it describes.
	Attestation bool   `json:"attestation,omitempty"`
	ReferenceOf string `json:"referenceOf,omitempty"`
}

// Inspect reads what ref holds. It needs pull access.
func (c *Client) Inspect(ctx context.Context, ref name.Reference) (*Listing, error) {
	s, err := c.session(ctx, c.o, nil, []name.Repository{ref.Context()})
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", ref, err)
	}
	desc, err := remote.Get(ref, s.remote(ctx, ref)...)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", ref, explain(ref.Context().Registry, err))
	}
	l := &Listing{Ref: ref.String(), Digest: desc.Digest, MediaType: desc.MediaType, Size: desc.Size, Raw: desc.Manifest}
	switch {
	case desc.MediaType.IsIndex():
		l.Index = true
		m, err := v1.ParseIndexManifest(bytesReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("inspecting %s: %w", ref, err)
		}
		for _, d := range m.Manifests {
			l.Children = append(l.Children, ChildOf(d))
		}
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return nil, fmt.Errorf("inspecting %s: %w", ref, err)
		}
		d, err := imageDescriptor(desc.Descriptor, img)
		if err != nil {
			return nil, fmt.Errorf("inspecting %s: %w", ref, err)
		}
		l.Children = []Child{ChildOf(d)}
	default:
		return nil, fmt.Errorf("inspecting %s: unsupported media type %q", ref, desc.MediaType)
	}
	return l, nil
}

// ChildOf describes one descriptor of an index as Inspect lists it.
func ChildOf(d v1.Descriptor) Child {
	c := Child{Platform: FormatPlatform(d.Platform), Digest: d.Digest, Size: d.Size, MediaType: d.MediaType, Annotations: d.Annotations}
	if d.Annotations[AnnotationReferenceType] == attestationManifest {
		c.Attestation = true
		c.ReferenceOf = d.Annotations[AnnotationReferenceDigest]
	}
	return c
}
