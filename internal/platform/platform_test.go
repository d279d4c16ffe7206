package platform

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseListNormalises(t *testing.T) {
	got, err := ParseList([]string{"linux/amd64,linux/aarch64", "linux/arm", "riscv64", "linux/arm/v6"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/riscv64", "linux/arm/v6"}
	if len(got) != len(want) {
		t.Fatalf("got %d platforms, want %d", len(got), len(want))
	}
	for i, p := range got {
		if s := Format(p); s != want[i] {
			t.Errorf("platform %d = %s, want %s", i, s, want[i])
		}
	}
}

func TestParseTakesArchAndVariantAsLinux(t *testing.T) {
	for in, want := range map[string]string{"arm64/v8": "linux/arm64", "aarch64/v8": "linux/arm64", "arm/v7": "linux/arm/v7", "arm/v6": "linux/arm/v6", "amd64/v3": "linux/amd64/v3"} {
		p, err := Parse(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := Format(p); got != want {
			t.Errorf("%q = %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{"arm64/v7", "sparc/v8", "linux/v8"} {
		if _, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", in, err)
		}
	}
}

func TestParseListRefusesDuplicatesAfterNormalisation(t *testing.T) {
	for _, in := range [][]string{
		{"linux/arm64,linux/aarch64"},
		{"linux/arm64", "linux/arm64/v8"},
		{"linux/arm,linux/arm/v7"},
		{"linux/amd64,linux/x86_64"},
	} {
		_, err := ParseList(in)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "list each platform once") {
			t.Errorf("%v: err = %v, want a duplicate error", in, err)
		}
	}
}

func TestParseRefusesInvalid(t *testing.T) {
	for _, in := range []string{"linux/", "foo/bar/baz/qux", "linux", "linux/sparc99", "linux/amd65", "plan10/amd64", "/amd64", "", "linux/arm/v9", "linux/arm/x", "linux/arm/.", "linux/amd64/..", "linux/s390x/v2"} {
		_, err := Parse(in)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", in, err)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error has several lines: %q", in, err)
		}
	}
}

func TestNative(t *testing.T) {
	p := platforms.MustParse
	cases := []struct {
		host, target string
		want         bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/amd64", "linux/amd64/v3", true},
		{"linux/amd64", "linux/386", true},
		{"linux/amd64", "linux/arm64", false},
		{"linux/amd64", "linux/arm/v7", false},
		{"linux/arm64", "linux/arm64", true},
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/arm64", "linux/arm/v7", true},
		{"linux/arm64", "linux/arm/v6", true},
		{"linux/arm64", "linux/amd64", false},
		{"linux/arm64", "linux/riscv64", false},
		{"linux/arm/v7", "linux/arm/v6", true},
		{"linux/arm/v6", "linux/arm/v7", false},
		{"linux/amd64", "windows/amd64", false},
	}
	for _, c := range cases {
		if got := Native(p(c.host), p(c.target)); got != c.want {
			t.Errorf("Native(%s, %s) = %v, want %v", c.host, c.target, got, c.want)
		}
	}
}

func TestSupports(t *testing.T) {
	have := []ocispec.Platform{platforms.MustParse("linux/amd64"), platforms.MustParse("linux/arm64"), platforms.MustParse("linux/arm/v7")}
	for s, want := range map[string]bool{"linux/arm64": true, "linux/arm/v7": true, "linux/arm/v6": false, "linux/riscv64": false} {
		if got := Supports(have, platforms.MustParse(s)); got != want {
			t.Errorf("Supports(%s) = %v", s, got)
		}
	}
}

func TestKeyAndArchVariant(t *testing.T) {
	if !Same(platforms.MustParse("linux/arm64/v8"), platforms.MustParse("linux/arm64")) {
		t.Error("arm64/v8 and arm64 are one platform")
	}
	if Same(platforms.MustParse("linux/arm/v6"), platforms.MustParse("linux/arm/v7")) {
		t.Error("arm/v6 and arm/v7 are two platforms")
	}
	if got := ArchVariant(platforms.MustParse("linux/arm/v7")); got != "armv7" {
		t.Errorf("ArchVariant = %q", got)
	}
	if !IsHost(Host()) {
		t.Error("the host is not its own platform")
	}
}
