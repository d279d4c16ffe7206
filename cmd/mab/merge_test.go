package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/mab-build/mab/internal/pipeline"
)

// registryWith starts an in-process registry holding one image per
// platform under repo:<arch><variant> and returns its host.
func registryWith(t *testing.T, plats ...v1.Platform) string {
	t.Helper()
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")
	for _, p := range plats {
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
		ref, _ := name.NewTag(host + "/app:" + p.Architecture + p.Variant)
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	return host
}

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

func TestMergeCommandPushesAndPrintsDigest(t *testing.T) {
	host := registryWith(t, amd64, arm64)
	out, stderr, err := run(t, "merge", "-t", host+"/app:1.4", host+"/app:amd64", host+"/app:arm64")
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(mustTag(t, host+"/app:1.4"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != d.Digest.String() {
		t.Errorf("stdout %q, want only the digest %s", out, d.Digest)
	}
	if !strings.Contains(stderr, "2 children") {
		t.Errorf("stderr %q", stderr)
	}
	out, _, err = run(t, "inspect", "--verify", host+"/app:1.4")
	if err != nil || !strings.Contains(out, "linux/arm64") {
		t.Errorf("inspect --verify: %v\n%s", err, out)
	}
	out, _, err = run(t, "inspect", "--format", "raw", host+"/app:1.4")
	if err != nil || !json.Valid([]byte(out)) || !strings.Contains(out, `"schemaVersion":2`) {
		t.Errorf("inspect --format raw: %v\n%s", err, out)
	}
}

func TestMergeDryRunPushesNothing(t *testing.T) {
	host := registryWith(t, amd64, arm64)
	out, _, err := run(t, "merge", "--dry-run", "--annotation", "a=b", "-t", host+"/app:dry", host+"/app:amd64", host+"/app:arm64=linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	var m v1.IndexManifest
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("stdout is not the index: %v\n%s", err, out)
	}
	if len(m.Manifests) != 2 || m.Annotations["a"] != "b" || m.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index %s", out)
	}
	if _, err := remote.Head(mustTag(t, host+"/app:dry")); err == nil {
		t.Error("--dry-run pushed the index")
	}
}

func TestMergeCommandRefusesBadInput(t *testing.T) {
	host := registryWith(t, amd64, arm64)
	pushOCIAndIndex(t, host)
	// Nothing listens on deadHost: an error about it would mean mab
	// dialled before checking its arguments.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{host + "/app:amd64"}, `"tag" not set`},
		{"bad target", []string{"-t", "Bad:Ref", host + "/app:amd64"}, "invalid --tag"},
		{"bad source", []string{"-t", host + "/app:x", "Bad Source"}, `source "Bad Source"`},
		{"bad platform", []string{"-t", host + "/app:x", "--platform", "linux/", host + "/app:amd64"}, "invalid --platform"},
		{"unknown architecture", []string{"-t", deadHost + "/app:x", "--platform", "linux/amd65", deadHost + "/app:amd64"}, `invalid --platform: invalid platform "linux/amd65": unknown architecture "amd65"`},
		{"unknown architecture of a source", []string{"-t", deadHost + "/app:x", deadHost + "/app:amd64=linux/amd65"}, `invalid platform "linux/amd65": unknown architecture "amd65"`},
		{"one platform twice", []string{"-t", deadHost + "/app:x", "--platform", "linux/arm64,linux/aarch64", deadHost + "/app:amd64"}, "list each platform once"},
		{"docker list of an OCI image", []string{"-t", host + "/app:x", "--media-type", "docker", host + "/app:oci"}, "(application/vnd.oci.image.manifest.v1+json); use --media-type oci or auto"},
		{"override of an index", []string{"-t", host + "/app:x", host + "/app:index=linux/amd64"}, "needs a single image, and this is an index; use --platform to pick its platforms"},
		{"annotation with docker", []string{"-t", host + "/app:x", "--media-type", "docker", "--annotation", "a=b", host + "/app:amd64"}, "needs an OCI index"},
		{"bad annotation", []string{"-t", host + "/app:x", "--annotation", "novalue", host + "/app:amd64"}, "KEY=VALUE"},
		{"missing source", []string{"-t", host + "/app:x", host + "/app:amd64", host + "/app:nope"}, "source " + host + "/app:nope: no such manifest"},
		{"duplicate platform", []string{"-t", host + "/app:x", host + "/app:amd64", host + "/app:arm64=linux/amd64"}, "override linux/amd64 contradicts the image config (linux/arm64); pass --force to list it as linux/amd64 anyway"},
		{"override forced into a duplicate", []string{"-t", host + "/app:x", "--force", host + "/app:amd64", host + "/app:arm64=linux/amd64"}, "are both linux/amd64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := run(t, append([]string{"merge"}, c.args...)...)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want %q", err, c.want)
			}
			t.Log(pipeline.OneLine(err))
		})
	}
}

func TestInspectVerifyFailsOnMislistedChild(t *testing.T) {
	host := registryWith(t, arm64)
	img, err := remote.Image(mustTag(t, host+"/app:arm64"))
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &amd64}})
	if err := remote.WriteIndex(mustTag(t, host+"/app:bad"), idx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run(t, "inspect", host+"/app:bad"); err != nil {
		t.Errorf("inspect without --verify: %v", err)
	}
	_, _, err = run(t, "inspect", "--verify", host+"/app:bad")
	if err == nil || !strings.Contains(err.Error(), "listed as linux/amd64 but its config says linux/arm64") {
		t.Errorf("err = %v, want the mismatch", err)
	}
}

// pushOCIAndIndex adds app:oci, an OCI image, and app:index, an index of
// the amd64 and arm64 images.
func pushOCIAndIndex(t *testing.T, host string) {
	t.Helper()
	img, err := remote.Image(mustTag(t, host+"/app:amd64"))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustTag(t, host+"/app:oci"), mutate.MediaType(img, types.OCIManifestSchema1)); err != nil {
		t.Fatal(err)
	}
	arm, err := remote.Image(mustTag(t, host+"/app:arm64"))
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &amd64}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &arm64}})
	if err := remote.WriteIndex(mustTag(t, host+"/app:index"), idx); err != nil {
		t.Fatal(err)
	}
}

func mustTag(t *testing.T, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(s)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// inspect --verify reads the children with the inspect's own client: the
// registry is pinged once, not once per step.
func TestInspectVerifyPingsOnce(t *testing.T) {
	var pings atomic.Int64
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			pings.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = amd64.OS, amd64.Architecture
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &amd64}})
	if err := remote.WriteIndex(mustTag(t, host+"/app:1"), idx); err != nil {
		t.Fatal(err)
	}
	pings.Store(0)
	if _, _, err := run(t, "inspect", "--verify", host+"/app:1"); err != nil {
		t.Fatal(err)
	}
	if n := pings.Load(); n != 1 {
		t.Errorf("%d pings for inspect --verify, want 1", n)
	}
}
