package pipeline

import (
	"strings"
	"testing"

	"github.com/containerd/platforms"
)

func TestParsePlatformsNormalises(t *testing.T) {
	got, err := ParsePlatforms([]string{"linux/amd64,linux/aarch64", "linux/arm", "riscv64", "linux/arm/v6"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/riscv64", "linux/arm/v6"}
	if len(got) != len(want) {
		t.Fatalf("got %d platforms, want %d", len(got), len(want))
	}
	for i, p := range got {
		if s := platforms.Format(p); s != want[i] {
			t.Errorf("platform %d = %s, want %s", i, s, want[i])
		}
	}
}

func TestParsePlatformsRefusesDuplicatesAfterNormalisation(t *testing.T) {
	for _, in := range [][]string{
		{"linux/arm64,linux/aarch64"},
		{"linux/arm64", "linux/arm64/v8"},
		{"linux/arm,linux/arm/v7"},
		{"linux/amd64,linux/x86_64"},
	} {
		_, err := ParsePlatforms(in)
		if err == nil || !strings.Contains(err.Error(), "list each platform once") {
			t.Errorf("%v: err = %v, want a duplicate error", in, err)
		}
	}
}

func TestParsePlatformsRefusesInvalid(t *testing.T) {
	for _, in := range []string{"linux/", "foo/bar/baz/qux", "linux", "linux/sparc99", "plan10/amd64", "/amd64", ""} {
		_, err := ParsePlatforms([]string{in})
		if err == nil {
			t.Errorf("%q: accepted, want an error", in)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error has several lines: %q", in, err)
		}
	}
}
