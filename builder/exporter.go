package builder

import "strconv"

// ImageOptions are the image exporter's options of every platform: how
// layers are compressed, which media types the manifests use, and the
// timestamp that makes a build reproducible. The zero value is BuildKit's
// defaults.
type ImageOptions struct {
	// SourceDateEpoch, seconds since 1970 in decimal, makes the exporter
	// rewrite the timestamps of the files in new layers to it
	// (rewrite-timestamp=true), as buildx does. The caller also passes it
	// as the build argument SOURCE_DATE_EPOCH, from which the Dockerfile
	// frontend dates the image config and its history. Empty: neither.
	SourceDateEpoch string
	// Compression is the layers' compression: gzip, zstd or estargz;
	// empty is BuildKit's default (gzip).
	Compression string
	// CompressionLevel, when not nil, is the compressor's level.
	CompressionLevel *int
	// ForceCompression recompresses layers that exist in another
	// compression (those of base images), not only the new ones.
	ForceCompression bool
	// OCIMediaTypes, when not nil, chooses OCI (true) or Docker (false)
	// media types for the manifests and layers.
	OCIMediaTypes *bool
}

// exportAttrs are the image exporter attributes of o, none for the zero
// value.
func (o ImageOptions) exportAttrs() map[string]string {
	attrs := map[string]string{}
	if o.SourceDateEpoch != "" {
		attrs["rewrite-timestamp"] = "true"
	}
	if o.Compression != "" {
		attrs["compression"] = o.Compression
	}
	if o.CompressionLevel != nil {
		attrs["compression-level"] = strconv.Itoa(*o.CompressionLevel)
	}
	if o.ForceCompression {
		attrs["force-compression"] = "true"
	}
	if o.OCIMediaTypes != nil {
		attrs["oci-mediatypes"] = strconv.FormatBool(*o.OCIMediaTypes)
	}
	return attrs
}
