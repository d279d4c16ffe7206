package ocilayout

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/distribution/reference"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations of index.json's entry that name the image, as BuildKit's
// OCI exporter (through containerd's archive exporter) writes them.
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = "org.opencontainers.image.ref.name"
)

// Annotation keys BuildKit puts on attestation manifests in an index.
const (
	AnnotationReferenceType   = "vnd.docker.reference.type"
	AnnotationReferenceDigest = "vnd.docker.reference.digest"
	attestationManifest       = "attestation-manifest"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// AddArchive reads an OCI archive (what BuildKit's oci exporter sends for
// one platform): its blobs go into the layout, each checked against its
// name, and the entries of its index.json are returned. Entries other
// than blobs, index.json and oci-layout are skipped (manifest.json of the
// docker exporter).
func (w *Writer) AddArchive(r io.Reader) ([]v1.Descriptor, error) {
	tr := tar.NewReader(r)
	var index *v1.IndexManifest
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		p := path.Clean(strings.TrimPrefix(h.Name, "./"))
		switch {
		case p == "index.json":
			if h.Size > MaxManifestSize {
				return nil, fmt.Errorf("reading archive: index.json is %d bytes", h.Size)
			}
			index = &v1.IndexManifest{}
			if err := json.NewDecoder(tr).Decode(index); err != nil {
				return nil, fmt.Errorf("reading archive: index.json: %w", err)
			}
		case strings.HasPrefix(p, "blobs/"):
			rest := strings.TrimPrefix(p, "blobs/")
			alg, hexd, ok := strings.Cut(rest, "/")
			if !ok {
				continue
			}
			h, err := v1.NewHash(alg + ":" + hexd)
			if err != nil {
				return nil, fmt.Errorf("reading archive: blob %s: %w", p, err)
			}
			if err := w.PutBlob(h, tr); err != nil {
				return nil, fmt.Errorf("reading archive: %w", err)
			}
		}
	}
	if index == nil {
		return nil, errors.New("reading archive: it has no index.json")
	}
	if len(index.Manifests) == 0 {
		return nil, errors.New("reading archive: its index.json lists nothing")
	}
	return index.Manifests, nil
}

// Children are the entries of the index being assembled: images, each
// with the platform its config declares, and attestation manifests.
type Children struct {
	Images, Attestations []v1.Descriptor
}

// Flatten adds what d describes (in the layout already) to c: an image
// with its platform read from its config, or, for an index (BuildKit's,
// when attestations are on), each of its images and its attestation
// manifests. Size, digest and media type come from the blob itself, so a
// descriptor that lies is an error; annotations of each child are kept.
func (w *Writer) Flatten(c *Children, d v1.Descriptor) error {
	raw, err := w.ReadBlob(d)
	if err != nil {
		return err
	}
	mt := mediaType(raw, d.MediaType)
	switch {
	case mt.IsImage():
		img, err := w.imageDescriptor(v1.Descriptor{MediaType: mt, Size: d.Size, Digest: d.Digest, Annotations: childAnnotations(d.Annotations)}, raw)
		if err != nil {
			return err
		}
		c.Images = append(c.Images, img)
		return nil
	case mt.IsIndex():
		var m v1.IndexManifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("parsing index %s: %w", d.Digest, err)
		}
		for _, child := range m.Manifests {
			if child.Annotations[AnnotationReferenceType] == attestationManifest {
				if _, err := w.ReadBlob(child); err != nil {
					return err
				}
				c.Attestations = append(c.Attestations, child)
				continue
			}
			if child.MediaType.IsIndex() {
				return fmt.Errorf("index %s lists the index %s: nested indexes are not supported", d.Digest, child.Digest)
			}
			if err := w.Flatten(c, child); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s has media type %q: want an image or an index", d.Digest, mt)
}

// childAnnotations drops the annotations that only index.json's entry of
// an exported archive carries (its name, its creation time): they are not
// the image's.
func childAnnotations(a map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		switch k {
		case AnnotationImageName, AnnotationRefName, "org.opencontainers.image.created":
			continue
		}
		out[k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// imageDescriptor returns base with the platform the image's config
// declares (os, architecture, variant, os.version, os.features).
func (w *Writer) imageDescriptor(base v1.Descriptor, raw []byte) (v1.Descriptor, error) {
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return v1.Descriptor{}, fmt.Errorf("parsing manifest %s: %w", base.Digest, err)
	}
	cb, err := w.ReadBlob(m.Config)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("config of %s: %w", base.Digest, err)
	}
	for _, l := range m.Layers {
		if !w.Has(l.Digest) {
			return v1.Descriptor{}, fmt.Errorf("layer %s of %s is missing", l.Digest, base.Digest)
		}
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return v1.Descriptor{}, fmt.Errorf("parsing config of %s: %w", base.Digest, err)
	}
	if cfg.OS == "" || cfg.Architecture == "" {
		return v1.Descriptor{}, fmt.Errorf("config of %s names no os/architecture", base.Digest)
	}
	base.Platform = &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant, OSVersion: cfg.OSVersion, OSFeatures: cfg.OSFeatures}
	return base, nil
}

// mediaType is the media type raw declares; an OCI manifest or index may
// leave it out, and is then known by its shape (listed is the
// descriptor's, used when the blob says nothing).
func mediaType(raw []byte, listed types.MediaType) types.MediaType {
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    *struct {
			MediaType types.MediaType `json:"mediaType"`
		} `json:"config"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return listed
	}
	switch {
	case m.MediaType != "":
		return m.MediaType
	case m.Manifests != nil:
		return types.OCIImageIndex
	case m.Config != nil && m.Config.MediaType == types.DockerConfigJSON:
		return types.DockerManifestSchema2
	case m.Config != nil:
		return types.OCIManifestSchema1
	}
	return listed
}

// Index writes an OCI index of c into the layout: the images in their
// order, then each attestation whose image is listed (others dropped),
// with annotations on the index when given. It returns the index's
// descriptor.
func (w *Writer) Index(c Children, annotations map[string]string) (v1.Descriptor, error) {
	if len(c.Images) == 0 {
		return v1.Descriptor{}, errors.New("the index would list no image")
	}
	seen := map[string]string{}
	listed := map[string]bool{}
	descs := make([]v1.Descriptor, 0, len(c.Images)+len(c.Attestations))
	for _, d := range c.Images {
		key := formatPlatform(d.Platform)
		if other, dup := seen[key]; dup {
			return v1.Descriptor{}, fmt.Errorf("%s and %s are both %s", other, d.Digest, key)
		}
		seen[key] = d.Digest.String()
		listed[d.Digest.String()] = true
		descs = append(descs, d)
	}
	for _, a := range c.Attestations {
		if listed[a.Annotations[AnnotationReferenceDigest]] && !listed[a.Digest.String()] {
			listed[a.Digest.String()] = true
			descs = append(descs, a)
		}
	}
	m := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs}
	if len(annotations) > 0 {
		m.Annotations = annotations
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("encoding index: %w", err)
	}
	if len(raw) > MaxManifestSize {
		return v1.Descriptor{}, fmt.Errorf("the index is %d bytes: registries take at most %d", len(raw), MaxManifestSize)
	}
	h, err := w.PutBytes(raw)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: types.OCIImageIndex, Size: int64(len(raw)), Digest: h}, nil
}

// formatPlatform is os/arch[/variant], with the OS version in brackets.
func formatPlatform(p *v1.Platform) string {
	if p == nil {
		return "(no platform)"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	if p.OSVersion != "" {
		s += "(" + p.OSVersion + ")"
	}
	return s
}

// DockerManifest is one entry of the manifest.json of `docker save`, so
// that `docker load` of a daemon that reads no OCI layout loads one image
// of the layout (BuildKit's docker exporter writes the same).
type DockerManifest struct {
	Config   string
	RepoTags []string `json:",omitempty"`
	Layers   []string
}

// DockerManifestFor returns the manifest.json entry of the image img (in
// the layout), tagged tag when not empty.
func (w *Writer) DockerManifestFor(img v1.Descriptor, tag string) (*DockerManifest, error) {
	raw, err := w.ReadBlob(img)
	if err != nil {
		return nil, err
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parsing manifest %s: %w", img.Digest, err)
	}
	dm := &DockerManifest{Config: blobName(m.Config.Digest)}
	for _, l := range m.Layers {
		dm.Layers = append(dm.Layers, blobName(l.Digest))
	}
	if tag != "" {
		dm.RepoTags = []string{tag}
	}
	return dm, nil
}

func blobName(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// Names returns the annotations of index.json's entry for the image
// reference ref, as containerd's archive exporter (BuildKit's oci
// exporter) writes them: io.containerd.image.name is the normalised
// reference (docker.io/library/app:1 for app:1),
// org.opencontainers.image.ref.name its tag. A reference without a tag
// gets ":latest", as `docker build -t app` does.
func Names(ref string) (map[string]string, error) {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return nil, fmt.Errorf("invalid image name %q: %w", ref, err)
	}
	n = reference.TagNameOnly(n)
	t, ok := n.(reference.Tagged)
	if !ok {
		return nil, fmt.Errorf("invalid image name %q: want REPO[:TAG]", ref)
	}
	if _, digested := n.(reference.Digested); digested {
		return nil, fmt.Errorf("invalid image name %q: name it by tag, not digest", ref)
	}
	return map[string]string{AnnotationImageName: n.String(), AnnotationRefName: t.Tag()}, nil
}

// DockerManifestOf returns the manifest.json entry of the image of index
// top (in the layout) that want accepts, else of its first image, tagged
// tag when not empty.
func (w *Writer) DockerManifestOf(top v1.Descriptor, want Keep, tag string) (*DockerManifest, error) {
	raw, err := w.ReadBlob(top)
	if err != nil {
		return nil, err
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("parsing index %s: %w", top.Digest, err)
	}
	var first *v1.Descriptor
	for i, d := range m.Manifests {
		if d.Annotations[AnnotationReferenceType] == attestationManifest || !d.MediaType.IsImage() {
			continue
		}
		if want != nil && want(d.Platform) {
			return w.DockerManifestFor(d, tag)
		}
		if first == nil {
			first = &m.Manifests[i]
		}
	}
	if first == nil {
		return nil, fmt.Errorf("index %s lists no image", top.Digest)
	}
	return w.DockerManifestFor(*first, tag)
}
