package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Index is an index assembled and not (yet) pushed.
type Index struct {
	Target    name.Tag
	Raw       []byte
	MediaType types.MediaType
	Digest    v1.Hash
	Manifest  *v1.IndexManifest
	// Base is the digest of the index at Target that this one amends; zero
	// when there was none or when not amending.
	Base     v1.Hash
	children []child
}

// Assemble reads the sources (and, with WithAmend, the target) and returns
// the index Merge would push, without writing anything: images in the order
// of the sources (after the target's, when amending), then attestations.
// It needs pull access only. opts are call options (see Option).
func (c *Client) Assemble(ctx context.Context, target name.Tag, sources []Source, opts ...Option) (*Index, error) {
	o, err := forCall(c.o, opts)
	if err != nil {
		return nil, fmt.Errorf("assembling %s: %w", target, err)
	}
	s, err := c.session(ctx, o, nil, append(repositories(sources), target.Context()))
	if err != nil {
		return nil, fmt.Errorf("assembling %s: %w", target, err)
	}
	images, atts, err := collect(ctx, s, sources)
	if err != nil {
		return nil, fmt.Errorf("assembling %s: %w", target, err)
	}
	var base *current
	if o.amend {
		if base, err = readTarget(ctx, s, target); err != nil {
			return nil, fmt.Errorf("assembling %s: %w", target, err)
		}
	}
	idx, err := build(o, target, images, atts, base)
	if err != nil {
		return nil, fmt.Errorf("assembling %s: %w", target, err)
	}
	return idx, nil
}

// collect resolves the sources and applies WithPlatforms; two images of
// one platform are an error that names both sources.
func collect(ctx context.Context, s *session, sources []Source) (images, atts []child, err error) {
	if len(sources) == 0 {
		return nil, nil, fmt.Errorf("%w: no source", ErrInvalid)
	}
	parts, err := resolveAll(ctx, s, sources)
	if err != nil {
		return nil, nil, err
	}
	kept := map[string]bool{}
	matched := make([]bool, len(s.o.platforms))
	seen := map[string]child{}
	for _, p := range parts {
		for _, c := range p.images {
			if !matches(s.o.platforms, c.desc.Platform) {
				continue
			}
			for i, want := range s.o.platforms {
				matched[i] = matched[i] || matches([]v1.Platform{want}, c.desc.Platform)
			}
			key := platformKey(c.desc.Platform)
			if prev, dup := seen[key]; dup {
				return nil, nil, fmt.Errorf("%w: %s (%s) and %s (%s) are both %s", ErrDuplicatePlatform, prev.source, prev.desc.Digest, c.source, c.desc.Digest, key)
			}
			seen[key] = c
			kept[c.desc.Digest.String()] = true
			images = append(images, c)
		}
		for _, a := range p.attestations {
			if kept[a.desc.Annotations[AnnotationReferenceDigest]] {
				atts = append(atts, a)
			}
		}
	}
	for i, ok := range matched {
		if !ok {
			return nil, nil, fmt.Errorf("%w: no source provides platform %s", ErrInvalid, FormatPlatform(&s.o.platforms[i]))
		}
	}
	if len(images) == 0 {
		return nil, nil, fmt.Errorf("%w: the sources hold no image", ErrInvalid)
	}
	return images, atts, nil
}

// build lays out the index: the base's images (each replaced by a new one
// of its platform), the new images, then the attestations whose image is
// still listed. It chooses the media type and refuses an oversized index.
func build(o options, target name.Tag, images, atts []child, base *current) (*Index, error) {
	var all, attestations []child
	annotations := map[string]string{}
	idx := &Index{Target: target}
	pos := map[string]int{}
	if base != nil {
		idx.Base = base.digest
		maps.Copy(annotations, base.annotations)
		for _, c := range base.images {
			pos[platformKey(c.desc.Platform)] = len(all)
			all = append(all, c)
		}
	}
	for _, c := range images {
		if i, ok := pos[platformKey(c.desc.Platform)]; ok {
			all[i] = c
			continue
		}
		all = append(all, c)
	}
	listed := map[string]bool{}
	for _, c := range all {
		listed[c.desc.Digest.String()] = true
	}
	if base != nil {
		atts = slices.Concat(base.attestations, atts)
	}
	for _, a := range atts {
		if listed[a.desc.Annotations[AnnotationReferenceDigest]] && !listed[a.desc.Digest.String()] {
			listed[a.desc.Digest.String()] = true
			attestations = append(attestations, a)
		}
	}
	if err := annotate(all, o.descAnnots); err != nil {
		return nil, err
	}
	idx.children = append(all, attestations...)
	maps.Copy(annotations, o.annotations)
	descs := make([]v1.Descriptor, len(idx.children))
	for i, c := range idx.children {
		descs[i] = c.desc
	}
	described := slices.ContainsFunc(o.descAnnots, func(a DescriptorAnnotations) bool { return len(a.Annotations) > 0 })
	mt, err := mediaType(o.mediaType, descs, annotations, described)
	if err != nil {
		return nil, err
	}
	m := &v1.IndexManifest{SchemaVersion: 2, MediaType: mt, Manifests: descs}
	if len(annotations) > 0 {
		m.Annotations = annotations
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding index: %w", err)
	}
	if len(raw) > MaxManifestSize {
		return nil, &TooLargeError{What: "index", Where: target.String(), Size: int64(len(raw)), Limit: MaxManifestSize}
	}
	d, _, err := v1.SHA256(bytesReader(raw))
	if err != nil {
		return nil, err
	}
	idx.Raw, idx.MediaType, idx.Digest, idx.Manifest = raw, mt, d, m
	return idx, nil
}

// annotate merges the descriptor annotations of as over those of images
// (see WithDescriptorAnnotations), on copies of their maps.
func annotate(images []child, as []DescriptorAnnotations) error {
	if len(as) == 0 {
		return nil
	}
	for _, a := range as {
		if _, ok := a.Annotations[AnnotationReferenceType]; ok {
			return fmt.Errorf("%w: descriptor annotation %s marks attestation manifests; an image cannot carry it", ErrInvalid, AnnotationReferenceType)
		}
		if a.Platform != nil && !slices.ContainsFunc(images, func(c child) bool { return matches([]v1.Platform{*a.Platform}, c.desc.Platform) }) {
			return fmt.Errorf("%w: descriptor annotations for %s, but the index has no image of that platform", ErrInvalid, FormatPlatform(a.Platform))
		}
	}
	for i := range images {
		d := &images[i].desc
		d.Annotations = maps.Clone(d.Annotations)
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		for _, named := range []bool{false, true} {
			for _, a := range as {
				if (a.Platform != nil) == named && (!named || matches([]v1.Platform{*a.Platform}, d.Platform)) {
					maps.Copy(d.Annotations, a.Annotations)
				}
			}
		}
		if len(d.Annotations) == 0 {
			d.Annotations = nil
		}
	}
	return nil
}

// mediaType applies the media-type rule: auto is a Docker manifest list
// when every child is a Docker v2 manifest and nothing needs annotations
// (of the index, or descriptorAnnotations of its children), an OCI index
// otherwise.
func mediaType(want MediaType, children []v1.Descriptor, annotations map[string]string, descriptorAnnotations bool) (types.MediaType, error) {
	switch want {
	case MediaTypeAuto, "":
		if isDocker(children) && len(annotations) == 0 && !descriptorAnnotations {
			return types.DockerManifestList, nil
		}
		return types.OCIImageIndex, nil
	case MediaTypeOCI:
		return types.OCIImageIndex, nil
	case MediaTypeDocker:
		if len(annotations) > 0 {
			return "", tag(fmt.Errorf("%w: a Docker manifest list has no annotations", ErrInvalid), ErrDockerList)
		}
		if descriptorAnnotations {
			return "", tag(fmt.Errorf("%w: a Docker manifest list's descriptors have no annotations", ErrInvalid), ErrDockerList)
		}
		for _, c := range children {
			if c.MediaType != types.DockerManifestSchema2 {
				return "", tag(fmt.Errorf("%w: a Docker manifest list cannot list %s (%s)", ErrInvalid, c.Digest, c.MediaType), ErrDockerList)
			}
		}
		return types.DockerManifestList, nil
	}
	return "", fmt.Errorf("%w: media type %q: want auto, oci or docker", ErrInvalid, want)
}

func repositories(sources []Source) []name.Repository {
	out := make([]name.Repository, len(sources))
	for i, s := range sources {
		out[i] = s.Ref.Context()
	}
	return out
}
