package pipeline

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mab-build/mab/builder"
)

// EnvSourceDateEpoch is the variable reproducible builds read their
// timestamp from (reproducible-builds.org), as buildx does.
const EnvSourceDateEpoch = "SOURCE_DATE_EPOCH"

// Compressions are the accepted values of --compression.
var Compressions = []string{"gzip", "zstd", "estargz"}

// compressionLevels are the levels each compression accepts: gzip's (and
// estargz's, which is gzip) 0 to 9, zstd's 1 to 22.
var compressionLevels = map[string][2]int{"gzip": {0, 9}, "estargz": {0, 9}, "zstd": {1, 22}}

// parseRepro checks the timestamp and the layer options of o and puts them
// into the plan: SOURCE_DATE_EPOCH as a build argument and the image
// exporter's options of every platform. The epoch is --source-date-epoch,
// else --build-arg SOURCE_DATE_EPOCH, else the environment's.
func (p *Plan) parseRepro(o Options, getenv func(string) string) error {
	epoch, from := o.SourceDateEpoch, "--source-date-epoch"
	if epoch == "" {
		epoch, from = p.BuildArgs[EnvSourceDateEpoch], "--build-arg "+EnvSourceDateEpoch
	}
	if epoch == "" {
		epoch, from = getenv(EnvSourceDateEpoch), "$"+EnvSourceDateEpoch
	}
	if epoch != "" {
		if err := checkEpoch(epoch); err != nil {
			return fmt.Errorf("invalid %s %s: %w", from, clip(epoch), err)
		}
		if p.BuildArgs == nil {
			p.BuildArgs = map[string]string{}
		}
		p.BuildArgs[EnvSourceDateEpoch] = epoch
		p.Build.BuildArgs = p.BuildArgs
	}
	img := builder.ImageOptions{SourceDateEpoch: epoch, Compression: o.Compression, ForceCompression: o.ForceCompression}
	if o.Compression != "" && compressionLevels[o.Compression] == [2]int{} {
		return fmt.Errorf("invalid --compression %s: want %s", clip(o.Compression), strings.Join(Compressions, ", "))
	}
	if o.CompressionLevel != "" {
		level, err := strconv.Atoi(o.CompressionLevel)
		if err != nil {
			return fmt.Errorf("invalid --compression-level %s: want a whole number", clip(o.CompressionLevel))
		}
		c := o.Compression
		if c == "" {
			c = "gzip"
		}
		if r := compressionLevels[c]; level < r[0] || level > r[1] {
			return fmt.Errorf("invalid --compression-level %d: %s takes %d to %d", level, c, r[0], r[1])
		}
		img.CompressionLevel = &level
	}
	if o.OCIMediaTypes != "" {
		oci, err := strconv.ParseBool(o.OCIMediaTypes)
		if err != nil {
			return fmt.Errorf("invalid --oci-mediatypes %s: want true or false", clip(o.OCIMediaTypes))
		}
		img.OCIMediaTypes = &oci
	}
	// zstd and eStargz layers have no Docker media type that clients
	// know (BuildKit refuses eStargz with Docker types outright): both
	// imply OCI media types.
	if o.Compression == "zstd" || o.Compression == "estargz" {
		if img.OCIMediaTypes != nil && !*img.OCIMediaTypes {
			return fmt.Errorf("--compression %s needs OCI media types: drop --oci-mediatypes=false", o.Compression)
		}
		oci := true
		img.OCIMediaTypes = &oci
	}
	if img.Compression != "" || img.CompressionLevel != nil || img.ForceCompression || img.OCIMediaTypes != nil {
		for _, a := range p.builderAddresses() {
			if builder.PushesByTag(a) {
				return fmt.Errorf("--compression, --compression-level, --force-compression and --oci-mediatypes are options of BuildKit's image exporter, and the builder %s stores images in the Docker daemon, which pushes them itself", a)
			}
		}
	}
	p.Build.Image = img
	return nil
}

// checkEpoch accepts whole seconds since 1970 in decimal digits only.
func checkEpoch(s string) error {
	if strings.Trim(s, "0123456789") != "" {
		return fmt.Errorf("want whole seconds since 1970, e.g. $(git log -1 --format=%%ct)")
	}
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return fmt.Errorf("out of range")
	}
	return nil
}

// builderAddresses are the builder's address and every --node's.
func (p *Plan) builderAddresses() []string {
	addrs := []string{p.Builder}
	for _, n := range p.Nodes {
		addrs = append(addrs, n.Address)
	}
	return addrs
}
