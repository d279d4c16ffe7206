package merge

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/mab-build/mab/internal/platform"
)

// The rules of platforms (parsing, normalising, the key two platforms are
// compared by, matching) are mab's internal/platform's, so that `mab
// build` and `mab merge` accept and compare platforms alike; this file only
// converts between go-containerregistry's platform type and the OCI one.

// ParsePlatform parses one platform, os/arch[/variant] or a bare
// architecture (then the OS is linux), and returns it normalised: aarch64
// is arm64, linux/arm is linux/arm/v7. An unknown OS or architecture
// (linux/amd65) is refused. Errors match ErrInvalid.
func ParsePlatform(s string) (v1.Platform, error) {
	p, err := platform.Parse(s)
	if err != nil {
		return v1.Platform{}, tag(err, ErrInvalid)
	}
	return fromOCI(p), nil
}

// FormatPlatform prints p as os/arch[/variant], with the OS version and
// features when present, e.g. windows(10.0.17763)/amd64. A nil p is
// unknown/unknown. The result is safe to print on a terminal: a field with
// control characters (a registry's config may hold any) is escaped by
// Printable.
func FormatPlatform(p *v1.Platform) string {
	return Printable(platform.FormatAll(toOCI(p)))
}

// platformKey identifies a platform for duplicate detection and for
// replacement by an amend (see platform.Key): linux/arm64/v8 and
// linux/arm64 are one platform, two OS versions are two.
func platformKey(p *v1.Platform) string {
	return platform.Key(toOCI(p))
}

// agrees reports whether an image whose config declares cfg may be listed
// as p: the same platform, where the variant and the OS version count only
// when the config names them, and the OS features not at all.
func agrees(cfg, p v1.Platform) bool {
	if cfg.Variant == "" {
		p.Variant = ""
	}
	if cfg.OSVersion == "" {
		p.OSVersion = ""
	}
	p.OSFeatures = cfg.OSFeatures
	return platform.Same(toOCI(&cfg), toOCI(&p))
}

// matches reports whether p is one of want (none means all), as
// containerd's matcher (platform.Supports) sees it.
func matches(want []v1.Platform, p *v1.Platform) bool {
	if len(want) == 0 {
		return true
	}
	ws := make([]ocispec.Platform, len(want))
	for i := range want {
		ws[i] = toOCI(&want[i])
	}
	return platform.Supports(ws, toOCI(p))
}

// toOCI converts go-containerregistry's platform to the OCI one of
// internal/platform. A nil platform is unknown/unknown.
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

func fromOCI(p ocispec.Platform) v1.Platform {
	return v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures}
}
