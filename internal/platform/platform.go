package platform

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrInvalid is wrapped by every error of Parse and ParseList.
var ErrInvalid = errors.New("invalid platform")

// knownOS and knownArch are the values of GOOS and GOARCH that an image
// config can carry; anything else is a typo, not a platform.
var (
	knownOS   = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}
	knownArch = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm"}
)

// knownVariants are the variants each architecture has (after
// normalising: arm64/v8 is arm64, amd64/v1 is amd64); an architecture
// not listed has none. Anything else is a typo, or a CPU that no builder
// will ever list.
var knownVariants = map[string][]string{
	"arm":     {"v5", "v6", "v7", "v8"},
	"arm64":   {"v8.1", "v8.2", "v8.3", "v8.4", "v8.5", "v8.6", "v8.7", "v8.8", "v8.9", "v9", "v9.0", "v9.1", "v9.2", "v9.3", "v9.4", "v9.5"},
	"amd64":   {"v2", "v3", "v4"},
	"riscv64": {"rva20u64", "rva22u64", "rva23u64"},
	"ppc64le": {"power8", "power9", "power10"},
}

// Parse parses one platform, os/arch[/variant] or a bare architecture
// (then the OS is linux), and returns it normalised. An unknown OS or
// architecture is refused with the known ones listed.
func Parse(s string) (ocispec.Platform, error) {
	in := s
	first, _, withVariant := strings.Cut(s, "/")
	switch {
	case !withVariant && slices.Contains(knownOS, strings.ToLower(s)):
		return ocispec.Platform{}, fmt.Errorf("%w %q: an architecture is missing (for example %s/arm64)", ErrInvalid, in, s)
	case !withVariant:
		s = "linux/" + s
	case !slices.Contains(knownOS, strings.ToLower(first)) && bareArch(first):
		// arch/variant, as arm64/v8 or arm/v7: linux is meant.
		s = "linux/" + s
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("%w %q: want os/arch[/variant], for example linux/arm64 or linux/arm/v7", ErrInvalid, in)
	}
	p = platforms.Normalize(p)
	if !slices.Contains(knownOS, p.OS) {
		return ocispec.Platform{}, fmt.Errorf("%w %q: unknown operating system %q (known: %s)", ErrInvalid, in, p.OS, strings.Join(knownOS, ", "))
	}
	if !slices.Contains(knownArch, p.Architecture) {
		return ocispec.Platform{}, fmt.Errorf("%w %q: unknown architecture %q (known: %s)", ErrInvalid, in, p.Architecture, strings.Join(knownArch, ", "))
	}
	if v := p.Variant; v != "" && !slices.Contains(knownVariants[p.Architecture], v) {
		known := "none"
		if k := knownVariants[p.Architecture]; len(k) > 0 {
			known = strings.Join(k, ", ")
		}
		return ocispec.Platform{}, fmt.Errorf("%w %q: unknown variant %q of %s (known: %s)", ErrInvalid, in, v, p.Architecture, known)
	}
	return p, nil
}

// bareArch reports whether s names an architecture (aarch64 and x86_64
// too), so that arch/variant can be read as linux/arch/variant.
func bareArch(s string) bool {
	p, err := platforms.Parse("linux/" + s)
	return err == nil && slices.Contains(knownArch, platforms.Normalize(p).Architecture)
}

// ParseList parses comma-separated lists (a repeated flag gives several)
// with Parse, keeps their order, skips empty entries and refuses an entry
// that names a platform already listed (linux/arm64 and linux/aarch64).
func ParseList(specs []string) ([]ocispec.Platform, error) {
	var out []ocispec.Platform
	seen := map[string]string{}
	for _, spec := range specs {
		for _, s := range strings.Split(spec, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := Parse(s)
			if err != nil {
				return nil, err
			}
			key := Key(p)
			if first, dup := seen[key]; dup {
				return nil, fmt.Errorf("%w: %q is the same as %q (both are %s): list each platform once", ErrInvalid, s, first, key)
			}
			seen[key] = s
			out = append(out, p)
		}
	}
	return out, nil
}

// Format prints p as os/arch[/variant].
func Format(p ocispec.Platform) string { return platforms.Format(p) }

// FormatAll prints p with its OS version and features when present, e.g.
// windows(10.0.17763)/amd64.
func FormatAll(p ocispec.Platform) string { return platforms.FormatAll(p) }

// Key identifies p for duplicate detection and replacement: normalised
// (linux/arm64/v8 is linux/arm64, linux/arm is linux/arm/v7), with the OS
// version kept apart.
func Key(p ocispec.Platform) string { return platforms.FormatAll(platforms.Normalize(p)) }

// Same reports whether a and b are one platform (equal keys).
func Same(a, b ocispec.Platform) bool { return Key(a) == Key(b) }

// ArchVariant is the architecture and variant run together (amd64, arm64,
// armv7): what arch tags and {arch} in cache references are made of.
func ArchVariant(p ocispec.Platform) string { return p.Architecture + p.Variant }

// Host is the platform of the machine mab runs on, normalised.
func Host() ocispec.Platform { return platforms.Normalize(platforms.DefaultSpec()) }

// Native reports whether a machine of platform host runs programs of p
// without emulation: same OS, and the same architecture (any variant) or
// one that containerd counts as compatible with the host's (386 on amd64,
// arm/v7 and below on arm64 and on arm/v8). This is the one meaning of
// "native" in mab: routing, preflight, the summary, the metadata file and
// the emulator installers all ask here.
//
// A 32-bit architecture on a 64-bit host also needs the kernel's compat
// support; the installers probe the kernel for that before they skip one.
func Native(host, p ocispec.Platform) bool {
	h, q := platforms.Normalize(host), platforms.Normalize(p)
	if h.OS != q.OS {
		return false
	}
	if h.Architecture == q.Architecture && h.Architecture != "arm" {
		return true // amd64/v3 on an amd64 host: the CPU runs it or nothing does
	}
	return platforms.Only(h).Match(q)
}

// Supports reports whether one of have (a worker's platforms, as BuildKit
// lists them) can run want.
func Supports(have []ocispec.Platform, want ocispec.Platform) bool {
	for _, h := range have {
		if platforms.NewMatcher(h).Match(want) {
			return true
		}
	}
	return false
}

// IsHost reports whether p is the host's own platform (its architecture,
// not merely one it runs): the platform `--load` puts into Docker.
func IsHost(p ocispec.Platform) bool {
	h := Host()
	return platforms.Only(h).Match(p) && platforms.Normalize(p).Architecture == h.Architecture
}
