package merge

import (
	"context"
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestPlatformKeyNormalises(t *testing.T) {
	same := [][2]v1.Platform{
		{{OS: "linux", Architecture: "arm64", Variant: "v8"}, arm64},
		{{OS: "linux", Architecture: "arm"}, armv7},
		{{OS: "linux", Architecture: "aarch64"}, arm64},
	}
	for _, s := range same {
		if platformKey(&s[0]) != platformKey(&s[1]) {
			t.Errorf("%s and %s are one platform", FormatPlatform(&s[0]), FormatPlatform(&s[1]))
		}
	}
	w1 := v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1"}
	w2 := v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.1"}
	if platformKey(&w1) == platformKey(&w2) {
		t.Error("two Windows versions are distinct children")
	}
}

// An arm64 image whose config says variant v8 replaces a plain arm64 one
// in an amend, and is a duplicate of it in a merge.
func TestMergeTreatsArm64V8AsArm64(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	plain := push(t, repo, "plain", platformImage(t, arm64, ""))
	v8 := push(t, repo, "v8", platformImage(t, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, ""))
	if _, err := Merge(ctx, repo.Tag("dup"), []Source{{Ref: plain}, {Ref: v8}}); !errors.Is(err, ErrDuplicatePlatform) {
		t.Errorf("err = %v, want a duplicate", err)
	}
	if _, err := Merge(ctx, repo.Tag("1"), []Source{{Ref: plain}}); err != nil {
		t.Fatal(err)
	}
	pub, err := Merge(ctx, repo.Tag("1"), []Source{{Ref: v8}}, WithAmend(true))
	if err != nil {
		t.Fatal(err)
	}
	if m := pub.Manifest.Manifests; len(m) != 1 || m[0].Digest.String() != v8.DigestStr() {
		t.Errorf("after amend: %v, want only the v8 image", m)
	}
}

// ParsePlatform is internal/platform's parser: what `mab build --platform`
// refuses, merge refuses too, before any registry is dialled.
func TestParsePlatformSharesBuildRules(t *testing.T) {
	for in, want := range map[string]string{"linux/aarch64": "linux/arm64", "linux/arm": "linux/arm/v7", "riscv64": "linux/riscv64", "linux/arm64/v8": "linux/arm64"} {
		p, err := ParsePlatform(in)
		if err != nil || FormatPlatform(&p) != want {
			t.Errorf("ParsePlatform(%q) = %s, %v; want %s", in, FormatPlatform(&p), err, want)
		}
	}
	for _, in := range []string{"linux/amd65", "plan10/amd64", "linux", "linux/", ""} {
		if _, err := ParsePlatform(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParsePlatform(%q): err = %v, want ErrInvalid", in, err)
		}
	}
}
