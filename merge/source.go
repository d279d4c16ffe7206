package merge

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Source is one image or index to merge.
type Source struct {
	// Ref is a tag or a digest reference, in any repository or registry.
	Ref name.Reference
	// Platform, when set, is the platform the user says Ref is for. It must
	// agree with the image config (see WithForce) and needs a single image.
	Platform *v1.Platform
}

// String is the source as the user wrote it.
func (s Source) String() string {
	if s.Platform == nil {
		return s.Ref.String()
	}
	return s.Ref.String() + "=" + FormatPlatform(s.Platform)
}

// ParseSource parses REF or REF=PLATFORM, e.g. repo:1.4-armv7=linux/arm/v7,
// PLATFORM as ParsePlatform does. Errors match ErrInvalid.
func ParseSource(s string, opts ...name.Option) (Source, error) {
	ref, plat, hasPlat := strings.Cut(s, "=")
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return Source{}, fmt.Errorf("%w source %q: %v", ErrInvalid, s, err)
	}
	src := Source{Ref: r}
	if hasPlat {
		p, err := ParsePlatform(plat)
		if err != nil {
			return Source{}, fmt.Errorf("source %q: %w", s, err)
		}
		src.Platform = &p
	}
	return src, nil
}

// override returns the platform to list for an image whose config declares
// cfg when the user said want. What want leaves out (the OS version, the
// OS features) is the config's: leaving it out contradicts nothing. The OS
// and architecture must agree; so must the variants and the OS versions
// when both name one (a config without a variant takes the user's). With
// force, want wins, completed the same way.
func override(cfg, want v1.Platform, force bool) (v1.Platform, error) {
	out := want
	if out.OSVersion == "" {
		out.OSVersion = cfg.OSVersion
	}
	if len(out.OSFeatures) == 0 {
		out.OSFeatures = cfg.OSFeatures
	}
	if force {
		return out, nil
	}
	if !agrees(cfg, out) {
		return v1.Platform{}, &OverrideError{Override: want, Config: cfg, Forced: out}
	}
	return out, nil
}
