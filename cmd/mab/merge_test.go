package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

// sha256Of is the digest of b as a registry computes it.
func sha256Of(b string) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(b)))
}

// headDigest is what ref holds, "" when it does not exist.
func headDigest(t *testing.T, ref string) string {
	t.Helper()
	d, err := remote.Head(mustTag(t, ref))
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// registryBehind starts an in-process registry behind wrap and returns
// its host.
func registryBehind(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	s := httptest.NewServer(wrap(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// The dry run's stdout is the index, byte for byte: its sha256 is the
// digest (a newline after it would change that).
func TestMergeDryRunPrintsExactIndexBytes(t *testing.T) {
	host := registryWith(t, amd64, arm64)
	out, stderr, err := run(t, "merge", "--dry-run", "-t", host+"/app:dry", "-t", host+"/other/app:dry", host+"/app:amd64", host+"/app:arm64")
	if err != nil {
		t.Fatal(err)
	}
	d := sha256Of(out)
	if !strings.Contains(stderr, "would be "+d) {
		t.Errorf("sha256 of stdout is %s; stderr says %q", d, stderr)
	}
	if !strings.Contains(stderr, host+"/app:dry, "+host+"/other/app:dry") {
		t.Errorf("stderr %q does not name both tags", stderr)
	}
	if strings.Count(out, `"schemaVersion"`) != 1 {
		t.Errorf("stdout holds the index %d times, want once:\n%s", strings.Count(out, `"schemaVersion"`), out)
	}
	for _, tag := range []string{host + "/app:dry", host + "/other/app:dry"} {
		if headDigest(t, tag) != "" {
			t.Errorf("--dry-run pushed %s", tag)
		}
	}
}

func TestMergeSeveralTagsHoldOneIndex(t *testing.T) {
	host := registryWith(t, amd64, arm64)
	other := registryWith(t)
	tags := []string{host + "/app:1.4", host + "/app:latest", host + "/mirror/app:1.4", other + "/team/app:1.4"}
	args := []string{"merge"}
	for _, tag := range tags {
		args = append(args, "-t", tag)
	}
	out, stderr, err := run(t, append(args, host+"/app:amd64", host+"/app:arm64")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	digest := strings.TrimSpace(out)
	if !strings.HasPrefix(digest, "sha256:") || strings.Count(out, "\n") != 1 {
		t.Fatalf("stdout %q, want the digest once", out)
	}
	first, err := remote.Get(mustTag(t, tags[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		d, err := remote.Get(mustTag(t, tag))
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		if d.Digest.String() != digest || string(d.Manifest) != string(first.Manifest) {
			t.Errorf("%s holds %s, want the same bytes as %s (%s)", tag, d.Digest, tags[0], digest)
		}
	}
	for _, tag := range tags[1:] {
		if !strings.Contains(stderr, "tagged "+tag) {
			t.Errorf("stderr does not say %s was tagged:\n%s", tag, stderr)
		}
	}
	out, _, err = run(t, "inspect", "--verify", other+"/team/app:1.4")
	if err != nil || !strings.Contains(out, "linux/arm64") {
		t.Errorf("the other registry's tag does not verify: %v\n%s", err, out)
	}

	// --format json lists every tag.
	out, _, err = run(t, append(args, "--format", "json", host+"/app:amd64", host+"/app:arm64")...)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Tags   []string `json:"tags"`
		Digest string   `json:"digest"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Tags, " ") != strings.Join(tags, " ") || res.Digest != digest {
		t.Errorf("json tags %v digest %s, want %v %s", res.Tags, res.Digest, tags, digest)
	}
}

func TestMergeRefusesATagGivenTwice(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	cases := []struct{ a, b string }{
		{deadHost + "/app:1", deadHost + "/app:1"},
		{"busybox:1", "index.docker.io/library/busybox:1"},
	}
	for _, c := range cases {
		_, _, err := run(t, "merge", "-t", c.a, "-t", deadHost+"/app:2", "-t", c.b, deadHost+"/app:amd64")
		if err == nil || !strings.Contains(err.Error(), "give each tag once") {
			t.Errorf("-t %s -t %s: err = %v, want it refused", c.a, c.b, err)
		}
		if err != nil && strings.Contains(err.Error(), "connection refused") {
			t.Errorf("err = %v: dialled before refusing", err)
		}
	}
}

// A registry that refuses the copy into a further tag's repository
// leaves every tag untouched: the first tag is not written either.
func TestMergeSeveralTagsRefusedCopyWritesNoTag(t *testing.T) {
	host := registryWith(t, amd64, arm64)
	locked := registryBehind(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				http.Error(w, `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`, http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	out, _, err := run(t, "merge", "-t", host+"/app:1.4", "-t", locked+"/app:1.4", host+"/app:amd64", host+"/app:arm64")
	if err == nil {
		t.Fatal("accepted")
	}
	if !strings.Contains(err.Error(), "no tag was written") || !strings.Contains(err.Error(), "docker login "+locked) {
		t.Errorf("err = %v, want it to say no tag was written and how to log in to %s", err, locked)
	}
	if exitCode(err) != exitFailed || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", exitCode(err), out)
	}
	if d := headDigest(t, host+"/app:1.4"); d != "" {
		t.Errorf("the first tag was written (%s) although a further tag's registry refused the copy", d)
	}
}

// A further tag that fails after the first tag was written: exit 3, the
// digest on stdout, one line naming the tags that hold the index and
// those that failed.
func TestMergeSeveralTagsFailureAfterFirstIsPublished(t *testing.T) {
	host := registryWith(t, amd64, arm64)
	// This registry takes blobs and manifests by digest, and refuses tags.
	noTags := registryBehind(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") && !strings.Contains(r.URL.Path, "/manifests/sha256:") {
				http.Error(w, `{"errors":[{"code":"TAG_INVALID","message":"tags are immutable here"}]}`, http.StatusBadRequest)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	out, _, err := run(t, "merge", "-t", host+"/app:1.4", "-t", noTags+"/app:1.4", "-t", host+"/app:latest", host+"/app:amd64", host+"/app:arm64")
	if err == nil {
		t.Fatal("accepted")
	}
	digest := headDigest(t, host+"/app:1.4")
	if digest == "" || strings.TrimSpace(out) != digest {
		t.Fatalf("stdout %q, first tag %q: want its digest printed", out, digest)
	}
	if headDigest(t, host+"/app:latest") != digest {
		t.Errorf("the tag after the failed one was not written")
	}
	if exitCode(err) != exitPublished {
		t.Errorf("exit %d, want %d", exitCode(err), exitPublished)
	}
	line := pipeline.OneLine(err)
	want := digest + " is published under " + host + "/app:1.4, " + host + "/app:latest, but not under " + noTags + "/app:1.4: "
	if !strings.HasPrefix(line, want) || !strings.Contains(line, "tags are immutable here") {
		t.Errorf("err = %q, want it to start %q and give the registry's reason", line, want)
	}
}

// --amend with several tags amends the first and gives the others that
// result.
func TestMergeAmendSeveralTags(t *testing.T) {
	host := registryWith(t, amd64, arm64)
	if _, _, err := run(t, "merge", "-t", host+"/app:1.4", host+"/app:amd64"); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "merge", "--amend", "-t", host+"/app:1.4", "-t", host+"/mirror/app:1.4", host+"/app:arm64")
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.TrimSpace(out)
	for _, tag := range []string{host + "/app:1.4", host + "/mirror/app:1.4"} {
		if got := headDigest(t, tag); got != digest {
			t.Errorf("%s holds %s, want %s", tag, got, digest)
		}
	}
	idx, err := remote.Index(mustTag(t, host+"/mirror/app:1.4"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 2 || m.Manifests[0].Platform.Architecture != "amd64" || m.Manifests[1].Platform.Architecture != "arm64" {
		t.Errorf("amended index lists %+v, want amd64 kept and arm64 added", m.Manifests)
	}
}

// writeJSON writes v to a file in dir and returns its path.
func writeJSON(t *testing.T, dir, file, content string) string {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMergeFromMetadata(t *testing.T) {
	host := registryWith(t, amd64, arm64, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	amd, arm, v7 := headDigest(t, host+"/app:amd64"), headDigest(t, host+"/app:arm64"), headDigest(t, host+"/app:armv7")
	dir := t.TempDir()
	// mab's file (with "ref"), buildx's (pushed by digest, no tag), and one
	// of an older mab (no "ref": the repository of "final").
	mab := writeJSON(t, dir, "amd64.json", `{"final":"`+host+`/app:ci-1","stage":"confirmed","platforms":[{"platform":"linux/amd64","tag":"`+host+`/app:ci-1-amd64","ref":"`+host+`/app@`+amd+`","digest":"`+amd+`"}],"containerimage.digest":"sha256:`+strings.Repeat("0", 64)+`","image.name":"`+host+`/app:ci-1"}`)
	buildx := writeJSON(t, dir, "arm64.json", `{"buildx.build.ref":"b/b0/x","containerimage.digest":"`+arm+`","containerimage.descriptor":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"`+arm+`","size":1},"image.name":"`+host+`/app,`+host+`/app@`+arm+`"}`)
	old := writeJSON(t, dir, "armv7.json", `{"final":"`+host+`/app:ci-2","stage":"confirmed","platforms":[{"platform":"linux/arm/v7","tag":"`+host+`/app:ci-2-armv7","digest":"`+v7+`"}]}`)
	out, _, err := run(t, "merge", "-t", host+"/app:1.4", "-t", host+"/other/app:1.4", "--from-metadata", mab, "--from-metadata", buildx, "--from-metadata", old)
	if err != nil {
		t.Fatal(err)
	}
	digest := strings.TrimSpace(out)
	idx, err := remote.Index(mustTag(t, host+"/other/app:1.4"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	var got []string
	for _, d := range m.Manifests {
		got = append(got, d.Platform.Architecture+d.Platform.Variant+"="+d.Digest.String())
	}
	if want := "amd64=" + amd + " arm64=" + arm + " armv7=" + v7; strings.Join(got, " ") != want {
		t.Errorf("index lists %s, want %s", got, want)
	}
	if headDigest(t, host+"/app:1.4") != digest {
		t.Errorf("the first tag does not hold %s", digest)
	}

	// A positional SOURCE comes first; a metadata platform that
	// contradicts the image config is refused as SOURCE=PLATFORM is.
	lie := writeJSON(t, dir, "lie.json", `{"final":"`+host+`/app:x","platforms":[{"platform":"linux/arm64","digest":"`+amd+`"}]}`)
	_, _, err = run(t, "merge", "-t", host+"/app:lie", host+"/app:armv7", "--from-metadata", lie)
	if err == nil || !strings.Contains(err.Error(), "override linux/arm64 contradicts the image config (linux/amd64)") {
		t.Errorf("err = %v, want the contradiction refused", err)
	}
	if headDigest(t, host+"/app:lie") != "" {
		t.Error("a refused merge wrote its tag")
	}
}

func TestMergeFromMetadataRefusesBadFilesBeforeDialling(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	dir := t.TempDir()
	d := "sha256:" + strings.Repeat("ab", 32)
	cases := []struct {
		name    string
		content string
		want    string
	}{
		{"failed platform", `{"final":"` + deadHost + `/app:1","stage":"built","error":"1 of 2 platforms failed","platforms":[{"platform":"linux/amd64","digest":"` + d + `"},{"platform":"linux/arm64","error":"exit code: 1"}]}`,
			"--from-metadata " + filepath.Join(dir, "failed platform") + ": linux/arm64 failed in that build: exit code: 1"},
		{"neither kind", `{"name":"x"}`, "neither mab's metadata file"},
		{"not JSON", "hello", "not a metadata file"},
		{"bad digest", `{"containerimage.digest":"sha256:abc","image.name":"` + deadHost + `/app"}`, `invalid digest "sha256:abc"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeJSON(t, dir, c.name, c.content)
			_, _, err := run(t, "merge", "-t", deadHost+"/app:x", "--from-metadata", path)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(pipeline.OneLine(err), "\n") {
				t.Errorf("err = %q, want one line with %q", err, c.want)
			}
			if strings.Contains(err.Error(), "connection refused") {
				t.Errorf("err = %v: dialled before refusing", err)
			}
		})
	}
	_, _, err := run(t, "merge", "-t", deadHost+"/app:x")
	if err == nil || !strings.Contains(err.Error(), "no source") {
		t.Errorf("no SOURCE and no --from-metadata: err = %v", err)
	}
}
