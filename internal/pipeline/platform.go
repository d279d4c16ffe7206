package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// knownOS and knownArch are the values of GOOS and GOARCH that an image
// config can carry; anything else is a typo, not a platform.
var (
	knownOS   = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux", "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}
	knownArch = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64", "ppc64le", "riscv64", "s390x", "wasm"}
)

// ParsePlatforms parses a comma-separated list (and repeated flags) of
// platforms, normalises each one (aarch64 → arm64, linux/arm → linux/arm/v7,
// arm64/v8 → arm64) and refuses an entry that names a platform already in
// the list. The order of the input is kept.
func ParsePlatforms(specs []string) ([]ocispec.Platform, error) {
	var out []ocispec.Platform
	seen := map[string]string{}
	for _, spec := range specs {
		for _, s := range strings.Split(spec, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := ParsePlatform(s)
			if err != nil {
				return nil, err
			}
			key := platforms.Format(p)
			if first, dup := seen[key]; dup {
				return nil, fmt.Errorf("platform %q is the same as %q (both are %s): list each platform once", s, first, key)
			}
			seen[key] = s
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no platform given: pass --platform, for example --platform linux/amd64,linux/arm64")
	}
	return out, nil
}

// ParsePlatform parses one platform of the form os/arch[/variant] or a bare
// architecture (then the OS is linux) and returns it normalised.
func ParsePlatform(s string) (ocispec.Platform, error) {
	if !strings.Contains(s, "/") {
		if slices.Contains(knownOS, strings.ToLower(s)) {
			return ocispec.Platform{}, fmt.Errorf("invalid platform %q: an architecture is missing (for example %s/arm64)", s, s)
		}
		s = "linux/" + s
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant], for example linux/arm64 or linux/arm/v7", s)
	}
	p = platforms.Normalize(p)
	if !slices.Contains(knownOS, p.OS) {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: unknown operating system %q (known: %s)", s, p.OS, strings.Join(knownOS, ", "))
	}
	if !slices.Contains(knownArch, p.Architecture) {
		return ocispec.Platform{}, fmt.Errorf("invalid platform %q: unknown architecture %q (known: %s)", s, p.Architecture, strings.Join(knownArch, ", "))
	}
	return p, nil
}
