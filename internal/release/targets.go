package main

import (
	"fmt"
	"slices"
	"strings"
)

// target is one platform of the release.
type target struct {
	OS, Arch, Variant string
}

// defaultTargets are the platforms `make release` builds.
var defaultTargets = []target{
	{"linux", "amd64", ""},
	{"linux", "arm64", ""},
	{"linux", "arm", "v7"},
	{"linux", "riscv64", ""},
	{"darwin", "amd64", ""},
	{"darwin", "arm64", ""},
	{"windows", "amd64", ""},
}

// String is the platform as mab writes it: linux/arm/v7.
func (t target) String() string {
	s := t.OS + "/" + t.Arch
	if t.Variant != "" {
		s += "/" + t.Variant
	}
	return s
}

// Name is the archive's base name and top folder: mab-linux-armv7.
func (t target) Name() string { return "mab-" + t.OS + "-" + t.Arch + t.Variant }

// Binary is the executable's name inside the archive.
func (t target) Binary() string {
	if t.OS == "windows" {
		return "mab.exe"
	}
	return "mab"
}

// Archive is the archive's file name: tar.gz, or zip for Windows.
func (t target) Archive() string {
	if t.OS == "windows" {
		return t.Name() + ".zip"
	}
	return t.Name() + ".tar.gz"
}

// env is what go build needs to cross-compile for t, statically.
func (t target) env() []string {
	env := []string{"CGO_ENABLED=0", "GOOS=" + t.OS, "GOARCH=" + t.Arch}
	if t.Arch == "arm" {
		env = append(env, "GOARM="+strings.TrimPrefix(t.Variant, "v"))
	}
	return env
}

func targetNames(ts []target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.String())
	}
	return out
}

// parseTargets reads a comma-separated list of the release's platforms;
// anything else, or a platform twice, is refused.
func parseTargets(list string) ([]target, error) {
	var out []target
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		i := slices.IndexFunc(defaultTargets, func(t target) bool { return t.String() == s })
		if i < 0 {
			return nil, fmt.Errorf("platform %q is not one of the release's: %s", s, strings.Join(targetNames(defaultTargets), ", "))
		}
		if slices.Contains(out, defaultTargets[i]) {
			return nil, fmt.Errorf("platform %q is listed twice", s)
		}
		out = append(out, defaultTargets[i])
	}
	return out, nil
}
