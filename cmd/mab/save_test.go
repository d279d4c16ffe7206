package main

import (
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/mab-build/mab/internal/pipeline"
)

// pushMultiArch pushes an OCI index of amd64, arm64 and arm/v7 random
// images to an in-process registry and returns its reference and digest.
func pushMultiArch(t *testing.T) (string, v1.Hash) {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	var idx v1.ImageIndex = empty.Index
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "arm", Variant: "v7"}} {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := img.ConfigFile()
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx = mutate.IndexMediaType(idx, types.OCIImageIndex)
	ref := u.Host + "/save/app:1"
	r, _ := name.ParseReference(ref)
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	return ref, d
}

// layoutIndex opens the layout folder dir and returns the index that its
// index.json lists, validated.
func layoutIndex(t *testing.T, dir string) *v1.IndexManifest {
	t.Helper()
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := top.IndexManifest()
	if len(m.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries", len(m.Manifests))
	}
	idx, err := top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	return im
}

func TestSaveKeepsTheIndexOrTheChosenPlatforms(t *testing.T) {
	ref, digest := pushMultiArch(t)
	dir := t.TempDir()

	whole := filepath.Join(dir, "whole")
	out, _, err := run(t, "save", "--tar=false", ref, whole)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != digest.String() {
		t.Errorf("stdout %q, want the registry's digest %s", out, digest)
	}
	if m := layoutIndex(t, whole); len(m.Manifests) != 3 {
		t.Errorf("the whole index has %d children", len(m.Manifests))
	}

	arm := filepath.Join(dir, "arm")
	out, stderr, err := run(t, "save", "--tar=false", "--platform", "linux/arm64,linux/arm/v7", ref, arm)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) == digest.String() || !strings.Contains(stderr, "a new index of linux/arm64, linux/arm/v7") {
		t.Errorf("--platform: stdout %q stderr %q, want a new index named as such", out, stderr)
	}
	m := layoutIndex(t, arm)
	if len(m.Manifests) != 2 || m.Manifests[0].Platform.Architecture != "arm64" || m.Manifests[1].Platform.Variant != "v7" {
		t.Errorf("--platform kept %+v", m.Manifests)
	}

	archive := filepath.Join(dir, "app.tar")
	if _, _, err := run(t, "save", ref, archive); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(archive); err != nil || st.Size() == 0 {
		t.Fatalf("no archive: %v", err)
	}
}

func TestSaveRefusesBadInput(t *testing.T) {
	ref, _ := pushMultiArch(t)
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.tar")
	os.WriteFile(existing, []byte("old"), 0o644)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"existing file", []string{ref, existing}, "exists (--force replaces it)"},
		{"missing folder", []string{ref, filepath.Join(dir, "no", "app.tar")}, "no such file or directory"},
		{"a folder for an archive", []string{ref, dir}, "is a directory"},
		{"platform not in the index", []string{"--platform", "linux/s390x", ref, filepath.Join(dir, "x.tar")}, "has no linux/s390x image (it has linux/amd64, linux/arm64, linux/arm/v7)"},
		{"bad platform", []string{"--platform", "linux/", ref, filepath.Join(dir, "x.tar")}, "invalid --platform"},
		{"bad reference", []string{"Bad:Ref:x", filepath.Join(dir, "x.tar")}, "invalid reference"},
		{"missing tag", []string{strings.TrimSuffix(ref, ":1") + ":nope", filepath.Join(dir, "x.tar")}, "no such manifest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := run(t, append([]string{"save"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(pipeline.OneLine(err), "\n") {
				t.Errorf("err = %v, want one line with %q", err, c.want)
			}
			if b, _ := os.ReadFile(existing); string(b) != "old" {
				t.Error("the existing file was changed")
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

func TestSaveOfOneImageWrapsItInAnIndex(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	img, _ := random.Image(64, 1)
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = "linux", "arm", "v7"
	img, _ = mutate.ConfigFile(img, cfg)
	ref := u.Host + "/save/one:1"
	if err := remote.Write(mustParse(t, ref), img); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, stderr, err := run(t, "save", "--tar=false", ref, filepath.Join(dir, "one")); err != nil || !strings.Contains(stderr, "a new index around the image") {
		t.Fatalf("save: %v\n%s", err, stderr)
	}
	m := layoutIndex(t, filepath.Join(dir, "one"))
	want, _ := img.Digest()
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != want || m.Manifests[0].Platform.Variant != "v7" {
		t.Errorf("index lists %+v, want the image as linux/arm/v7", m.Manifests)
	}
	if _, _, err := run(t, "save", "--platform", "linux/arm64", ref, filepath.Join(dir, "x.tar")); err == nil || !strings.Contains(err.Error(), "is one linux/arm/v7 image, not linux/arm64") {
		t.Errorf("--platform of another platform: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func mustParse(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
