package e2e

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/mab-build/mab/internal/testenv"
)

// readIndex reads the index at ref back from the registry: its manifest
// and each image child's manifest, by platform (os/arch[/variant]).
func readIndex(t *testing.T, ref string) (*v1.IndexManifest, map[string]*v1.Manifest) {
	t.Helper()
	desc, err := remote.Get(mustRef(t, ref))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	manifests := map[string]*v1.Manifest{}
	for _, d := range m.Manifests {
		if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if manifests[platformOf(d)], err = img.Manifest(); err != nil {
			t.Fatal(err)
		}
	}
	return m, manifests
}

func platformOf(d v1.Descriptor) string {
	p := d.Platform.OS + "/" + d.Platform.Architecture
	if d.Platform.Variant != "" {
		p += "/" + d.Platform.Variant
	}
	return p
}

// TestAnnotationsBuildAtEachLevel builds two platforms with an
// annotation at each of buildx's levels and reads the index and the
// manifests back from the registry: each annotation is where it belongs,
// and nowhere else.
func TestAnnotationsBuildAtEachLevel(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\n")
	repo := uniqueRepo(e, "annotations")
	r := e.Run(t, "build", "--insecure", "--progress", "plain", "--build-arg", "BASE="+e.Base(),
		"--platform", "linux/amd64,linux/arm64", "-t", repo+":1",
		"--annotation", "index:org.opencontainers.image.source=https://example.com/app",
		"--annotation", "manifest[linux/arm64]:com.example.arch=arm64",
		"--annotation", "manifest-descriptor:com.example.d=1",
		dir)
	if r.ExitCode != 0 {
		t.Fatalf("mab build exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	m, manifests := readIndex(t, repo+":1")
	if m.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s, want an OCI index", m.MediaType)
	}
	if want := map[string]string{"org.opencontainers.image.source": "https://example.com/app"}; !maps.Equal(m.Annotations, want) {
		t.Errorf("index annotations %v, want %v", m.Annotations, want)
	}
	if len(m.Manifests) != 2 || len(manifests) != 2 {
		t.Fatalf("%d children, %d images: want 2 images", len(m.Manifests), len(manifests))
	}
	for _, d := range m.Manifests {
		if want := map[string]string{"com.example.d": "1"}; !maps.Equal(d.Annotations, want) {
			t.Errorf("%s: descriptor annotations %v, want %v", platformOf(d), d.Annotations, want)
		}
	}
	for plat, mf := range manifests {
		got, ok := mf.Annotations["com.example.arch"]
		if want := strings.HasPrefix(plat, "linux/arm64"); ok != want || (ok && got != "arm64") {
			t.Errorf("%s: manifest annotations %v: com.example.arch belongs to linux/arm64 only", plat, mf.Annotations)
		}
		for _, k := range []string{"org.opencontainers.image.source", "com.example.d"} {
			if _, ok := mf.Annotations[k]; ok {
				t.Errorf("%s: manifest carries %s, which belongs elsewhere: %v", plat, k, mf.Annotations)
			}
		}
	}
	// regclient, a reader that is not go-containerregistry, sees the same.
	var rm v1.IndexManifest
	if err := json.Unmarshal([]byte(regctl(t, e, "manifest", "get", "--format", "raw-body", repo+":1")), &rm); err != nil {
		t.Fatal(err)
	}
	if rm.Annotations["org.opencontainers.image.source"] != "https://example.com/app" || len(rm.Manifests) != 2 ||
		rm.Manifests[0].Annotations["com.example.d"] != "1" || rm.Manifests[1].Annotations["com.example.d"] != "1" {
		t.Errorf("regctl reads the index as %+v", rm)
	}
	var rarm v1.Manifest
	if err := json.Unmarshal([]byte(regctl(t, e, "manifest", "get", "--platform", "linux/arm64", "--format", "raw-body", repo+":1")), &rarm); err != nil {
		t.Fatal(err)
	}
	if rarm.Annotations["com.example.arch"] != "arm64" {
		t.Errorf("regctl reads the arm64 manifest's annotations as %v", rarm.Annotations)
	}
	// The arch tags are the same images, annotated alike.
	arm, err := remote.Image(mustRef(t, repo+":1-arm64"))
	if err != nil {
		t.Fatal(err)
	}
	if mf, err := arm.Manifest(); err != nil || mf.Annotations["com.example.arch"] != "arm64" {
		t.Errorf("the arm64 arch tag's manifest lacks its annotation: %v %v", mf, err)
	}
}

// TestAnnotationsMergeDescriptors merges the seeded three-platform
// busybox with index, manifest-descriptor and platform-named
// manifest-descriptor annotations, and a bare one (the index's, in merge).
func TestAnnotationsMergeDescriptors(t *testing.T) {
	e := testenv.Get(t)
	target := uniqueRepo(e, "merge-annotations") + ":1"
	r := e.Run(t, "merge", "--insecure", "-t", target,
		"--annotation", "org.opencontainers.image.title=busybox",
		"--annotation", "index:org.opencontainers.image.source=https://example.com/app",
		"--annotation", "manifest-descriptor:com.example.d=1",
		"--annotation", "manifest-descriptor[linux/arm/v7]:com.example.v7=yes",
		e.Base())
	if r.ExitCode != 0 {
		t.Fatalf("mab merge exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	m, manifests := readIndex(t, target)
	if m.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s, want an OCI index", m.MediaType)
	}
	if want := map[string]string{"org.opencontainers.image.title": "busybox", "org.opencontainers.image.source": "https://example.com/app"}; !maps.Equal(m.Annotations, want) {
		t.Errorf("index annotations %v, want %v", m.Annotations, want)
	}
	if len(manifests) != 3 {
		t.Fatalf("%d images, want the seed's 3", len(manifests))
	}
	for _, d := range m.Manifests {
		want := map[string]string{"com.example.d": "1"}
		if platformOf(d) == "linux/arm/v7" {
			want["com.example.v7"] = "yes"
		}
		if !maps.Equal(d.Annotations, want) {
			t.Errorf("%s: descriptor annotations %v, want %v", platformOf(d), d.Annotations, want)
		}
	}
	for plat, mf := range manifests {
		if len(mf.Annotations) != 0 {
			t.Errorf("%s: merge rewrote the manifest: annotations %v", plat, mf.Annotations)
		}
	}
}

// TestAnnotationsBadInputPushesNothing runs bad --annotation flags
// through the binary: one line on stderr naming the problem, exit 1, and
// no tag written.
func TestAnnotationsBadInputPushesNothing(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\n")
	repo := uniqueRepo(e, "bad-annotations")
	build := func(flag string) []string {
		return []string{"build", "--insecure", "--build-arg", "BASE=" + e.Base(), "--platform", "linux/amd64,linux/arm64", "-t", repo + ":1", "--annotation", flag, dir}
	}
	merge := func(args ...string) []string {
		return append(append([]string{"merge", "--insecure", "-t", repo + ":m"}, args...), e.Base())
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"build: index-descriptor", build("index-descriptor:k=v"), `invalid --annotation "index-descriptor:k=v": mab writes no index around its index`},
		{"build: unknown type", build("bogus:k=v"), `unknown type "bogus"`},
		{"build: platform not built", build("manifest[linux/s390x]:k=v"), "annotation for linux/s390x, which is not among --platform"},
		{"build: empty key", build("index:=v"), "empty key"},
		{"build: several platforms in a bracket", build("manifest[linux/amd64,linux/arm64]:k=v"), "one platform per bracket"},
		{"build: platform on index", build("index[linux/amd64]:k=v"), "index is one for the whole image"},
		{"merge: manifest", merge("--annotation", "manifest:k=v"), "mab merge does not rewrite images"},
		{"merge: index-descriptor", merge("--annotation", "index-descriptor:k=v"), "no index descriptor to annotate"},
		{"merge: descriptor on a Docker list", merge("--media-type", "docker", "--annotation", "manifest-descriptor:k=v"), "needs an OCI index"},
		{"merge: platform not in the index", merge("--annotation", "manifest-descriptor[linux/s390x]:k=v"), "descriptor annotations for linux/s390x, but the index has no image of that platform"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assertRefused(t, e.Run(t, c.args...), c.want)
		})
	}
	for _, tag := range []string{"1", "1-amd64", "1-arm64", "m"} {
		assertTagMissing(t, repo+":"+tag)
	}
}
