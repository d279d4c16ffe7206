package ocilayout

import (
	"bytes"
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// Keep selects the images of an index by platform; nil keeps them all.
type Keep func(*v1.Platform) bool

// AddIndex copies idx, whose manifest is raw, into the layout: every
// child manifest, config and layer, attestation manifests included, each
// checked against its digest. With keep nil the index itself is kept byte
// for byte (its digest is the one the registry serves); otherwise a new
// OCI index lists the images whose platform (from their config) keep
// accepts, and their attestations. It returns the index's descriptor.
func (w *Writer) AddIndex(ctx context.Context, idx v1.ImageIndex, raw []byte, keep Keep) (v1.Descriptor, error) {
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("parsing index: %w", err)
	}
	var wanted []v1.Descriptor
	kept := map[string]bool{}
	for _, d := range m.Manifests {
		if d.MediaType.IsIndex() {
			return v1.Descriptor{}, fmt.Errorf("the index lists the index %s: nested indexes are not supported", d.Digest)
		}
		if d.Annotations[AnnotationReferenceType] != attestationManifest && (keep == nil || keep(d.Platform)) {
			kept[d.Digest.String()] = true
			wanted = append(wanted, d)
		}
	}
	for _, d := range m.Manifests {
		if d.Annotations[AnnotationReferenceType] == attestationManifest && (keep == nil || kept[d.Annotations[AnnotationReferenceDigest]]) {
			wanted = append(wanted, d)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, d := range wanted {
		g.Go(func() error {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("reading %s: %w", d.Digest, err)
			}
			return w.AddImage(gctx, img)
		})
	}
	if err := g.Wait(); err != nil {
		return v1.Descriptor{}, err
	}
	if keep == nil {
		h, err := w.PutBytes(raw)
		if err != nil {
			return v1.Descriptor{}, err
		}
		mt := m.MediaType
		if mt == "" {
			mt = types.OCIImageIndex
		}
		return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: h}, nil
	}
	var c Children
	for _, d := range wanted {
		if d.Annotations[AnnotationReferenceType] == attestationManifest {
			c.Attestations = append(c.Attestations, d)
			continue
		}
		if err := w.Flatten(&c, d); err != nil {
			return v1.Descriptor{}, err
		}
		if last := c.Images[len(c.Images)-1]; !keep(last.Platform) {
			return v1.Descriptor{}, fmt.Errorf("%s is listed as %s, but its config says %s", d.Digest, formatPlatform(d.Platform), formatPlatform(last.Platform))
		}
	}
	if len(c.Images) == 0 {
		return v1.Descriptor{}, fmt.Errorf("the index has no image of the platforms asked for")
	}
	return w.Index(c, m.Annotations)
}

// AddImage copies one image (its manifest, config and layers) into the
// layout; blobs already there are not read again.
func (w *Writer) AddImage(ctx context.Context, img v1.Image) error {
	raw, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("reading manifest: %w", err)
	}
	h, err := w.PutBytes(raw)
	if err != nil {
		return err
	}
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("parsing manifest %s: %w", h, err)
	}
	if m.Config.Size > MaxManifestSize {
		return fmt.Errorf("config of %s is %d bytes: more than %d", h, m.Config.Size, MaxManifestSize)
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("reading config of %s: %w", h, err)
	}
	if err := w.PutBlob(m.Config.Digest, bytes.NewReader(cfg)); err != nil {
		return err
	}
	for _, ld := range m.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if w.Has(ld.Digest) {
			continue
		}
		l, err := img.LayerByDigest(ld.Digest)
		if err != nil {
			return fmt.Errorf("reading layer %s of %s: %w", ld.Digest, h, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("reading layer %s of %s: %w", ld.Digest, h, err)
		}
		err = w.PutBlob(ld.Digest, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
