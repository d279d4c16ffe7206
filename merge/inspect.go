package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Listing is what a reference holds: an index and its children, or a
// single image (then Children has one entry, the image itself). It is the
// data of `mab inspect --format` templates and of its JSON, so each field
// says how it prints.
type Listing struct {
	// Ref is the reference as inspected, e.g. registry.example.com/app:1.4.
	Ref string `json:"ref"`
	// Digest is the digest of what Ref holds (sha256:...): the index's,
	// or the single image's.
	Digest v1.Hash `json:"digest"`
	// MediaType is its media type, e.g.
	// application/vnd.oci.image.index.v1+json.
	MediaType types.MediaType `json:"mediaType"`
	// Size is the length of Raw in bytes.
	Size int64 `json:"size"`
	// Index is false when Ref names a single image.
	Index bool `json:"index"`
	// Children are the index's entries in its order, attestation
	// manifests included; for a single image, the image.
	Children []Child `json:"manifests"`
	// Raw is the manifest as the registry served it (not in the JSON).
	Raw json.RawMessage `json:"-"`
}

// Child is one entry of an index.
type Child struct {
	// Platform is os/arch[/variant], with the OS version and features when
	// present (windows(10.0.17763)/amd64); unknown/unknown for an
	// attestation manifest. Control characters are escaped (see Printable).
	Platform string `json:"platform"`
	// Digest is the child's manifest digest (sha256:...).
	Digest v1.Hash `json:"digest"`
	// Size is the length of the child's manifest in bytes.
	Size int64 `json:"size"`
	// MediaType is the child's manifest media type.
	MediaType types.MediaType `json:"mediaType"`
	// Annotations are the descriptor's annotations, as the registry served them.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Attestation is true for an attestation manifest; ReferenceOf is then
	// the digest of the image it describes.
	Attestation bool   `json:"attestation,omitempty"`
	ReferenceOf string `json:"referenceOf,omitempty"`

	platform *v1.Platform // as listed, for ForPlatform
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
	c := Child{Platform: FormatPlatform(d.Platform), Digest: d.Digest, Size: d.Size, MediaType: d.MediaType, Annotations: d.Annotations, platform: d.Platform}
	if d.Annotations[AnnotationReferenceType] == attestationManifest {
		c.Attestation = true
		c.ReferenceOf = d.Annotations[AnnotationReferenceDigest]
	}
	return c
}

// PlatformNotListedError is a platform that ForPlatform did not find, or
// found more than once. It matches ErrNotFound.
type PlatformNotListedError struct {
	// Ref is the listing's reference.
	Ref string
	// Want is the platform asked for.
	Want v1.Platform
	// Have are the platforms listed (the matching ones, when Ambiguous).
	Have []string
	// Index is false when Ref names a single image.
	Index bool
	// Ambiguous is true when several children match Want.
	Ambiguous bool
}

// Error implements error.
func (e *PlatformNotListedError) Error() string {
	want := FormatPlatform(&e.Want)
	switch {
	case e.Ambiguous:
		return fmt.Sprintf("%s lists %s more than once (%s): name the OS version", Printable(e.Ref), want, strings.Join(e.Have, ", "))
	case !e.Index:
		return fmt.Sprintf("%s is a single image for %s, not %s", Printable(e.Ref), strings.Join(e.Have, ""), want)
	case len(e.Have) == 0:
		return fmt.Sprintf("%s has no %s: it lists no image", Printable(e.Ref), want)
	}
	return fmt.Sprintf("%s has no %s: it has %s", Printable(e.Ref), want, strings.Join(e.Have, ", "))
}

// Unwrap lets errors.Is find ErrNotFound.
func (e *PlatformNotListedError) Unwrap() error { return ErrNotFound }

// ForPlatform returns a copy of l that lists only the image child for
// want, compared by mab's platform rules (linux/arm64/v8 is linux/arm64;
// an OS version or a variant that want leaves out matches any, when
// exactly one child matches so). Attestation manifests are never
// selected. On a single image, want must agree with the image's config.
// A platform missing, or listed twice, is a *PlatformNotListedError.
func (l *Listing) ForPlatform(want v1.Platform) (*Listing, error) {
	var exact, loose []Child
	var have []string
	for _, c := range l.Children {
		if c.Attestation {
			continue
		}
		have = append(have, c.Platform)
		got := v1.Platform{}
		if c.platform != nil {
			got = *c.platform
		}
		got.OSFeatures = nil
		if want.OSVersion == "" {
			got.OSVersion = ""
		}
		w := want
		w.OSFeatures = nil
		switch {
		case platformKey(&got) == platformKey(&w):
			exact = append(exact, c)
		case w.Variant == "" && w.OS == got.OS && w.Architecture == got.Architecture:
			loose = append(loose, c)
		}
	}
	found := exact
	if len(found) == 0 {
		found = loose
	}
	if len(found) != 1 {
		e := &PlatformNotListedError{Ref: l.Ref, Want: want, Have: have, Index: l.Index, Ambiguous: len(found) > 1}
		if e.Ambiguous {
			e.Have = nil
			for _, c := range found {
				e.Have = append(e.Have, c.Platform)
			}
		}
		return nil, e
	}
	out := *l
	out.Children = found
	return &out, nil
}
