package merge

import (
	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// toOCI converts go-containerregistry's platform to the OCI one that
// containerd/platforms formats and matches. A nil platform is unknown/unknown.
func toOCI(p *v1.Platform) ocispec.Platform {
	if p == nil {
		return ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	}
	return ocispec.Platform{
		OS:           p.OS,
		Architecture: p.Architecture,
		Variant:      p.Variant,
		OSVersion:    p.OSVersion,
		OSFeatures:   p.OSFeatures,
	}
}

// FormatPlatform prints p as os/arch[/variant], with the OS version and
// features when present, e.g. windows(10.0.17763)/amd64.
func FormatPlatform(p *v1.Platform) string {
	return platforms.FormatAll(toOCI(p))
}

// platformKey identifies a platform for duplicate detection and for
// replacement by an amend: normalised, so that linux/arm64/v8 and
// linux/arm64 (or linux/arm and linux/arm/v7) are one platform, with the
// OS version kept apart.
func platformKey(p *v1.Platform) string {
	return platforms.FormatAll(platforms.Normalize(toOCI(p)))
}
