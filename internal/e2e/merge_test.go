package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
)

// buildWithProvenance builds a one-COPY Dockerfile on the base image for
// platform with buildctl, provenance attestation on, and pushes it as ref:
// BuildKit pushes an index of the image and its attestation manifest.
func buildWithProvenance(t *testing.T, e testenv.Env, platform, ref string) {
	t.Helper()
	if e.Buildctl == "" {
		t.Fatal("buildctl unknown (MAB_TEST_BUILDCTL): run `make e2e-up` again")
	}
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM $BASE\nCOPY msg.txt /msg.txt\n")
	if err := os.WriteFile(filepath.Join(dir, "msg.txt"), []byte("hello from "+platform+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.Buildctl, "--addr", e.BuildkitHost, "build",
		"--frontend", "dockerfile.v0", "--local", "context="+dir, "--local", "dockerfile="+dir,
		"--opt", "platform="+platform, "--opt", "attest:provenance=mode=min",
		"--opt", "build-arg:BASE="+e.Base(),
		"--output", "type=image,name="+ref+",push=true,registry.insecure=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buildctl build %s: %v\n%s", platform, err, out)
	}
}

// dockerManifestInspect reads ref with the Docker CLI, a client mab's
// authors did not write.
func dockerManifestInspect(t *testing.T, ref string) v1.IndexManifest {
	t.Helper()
	cmd := exec.Command("docker", "manifest", "inspect", "--insecure", ref)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker manifest inspect %s: %v\n%s", ref, err, exitStderr(err))
	}
	var m v1.IndexManifest
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("docker manifest inspect printed %s: %v", out, err)
	}
	return m
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// platformsOf lists the children as os/arch[/variant], attestations
// (annotated so, or unknown/unknown: the Docker CLI prints no annotations)
// as "attestation".
func platformsOf(m v1.IndexManifest) []string {
	var out []string
	for _, d := range m.Manifests {
		switch {
		case d.Annotations["vnd.docker.reference.type"] == "attestation-manifest",
			d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown":
			out = append(out, "attestation")
		case d.Platform == nil:
			out = append(out, "none")
		default:
			out = append(out, strings.TrimSuffix(d.Platform.OS+"/"+d.Platform.Architecture+"/"+d.Platform.Variant, "/"))
		}
	}
	return out
}

func TestMergeBuildKitImagesWithProvenance(t *testing.T) {
	e := testenv.Get(t)
	repo, other := uniqueRepo(e, "merged"), uniqueRepo(e, "elsewhere")
	buildWithProvenance(t, e, "linux/amd64", repo+":1.0-amd64")
	buildWithProvenance(t, e, "linux/arm64", repo+":1.0-arm64")
	buildWithProvenance(t, e, "linux/arm/v7", other+":1.0-armv7")

	r := e.Run(t, "merge", "--format", "json", "-t", repo+":1.0", repo+":1.0-amd64", repo+":1.0-arm64", other+":1.0-armv7")
	if r.ExitCode != 0 {
		t.Fatalf("mab merge exited %d: %s", r.ExitCode, r.Stderr)
	}
	var res struct {
		Digest string `json:"digest"`
		Copied int    `json:"copied"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("--format json printed %q: %v", r.Stdout, err)
	}
	if res.Copied != 2 {
		t.Errorf("copied %d children from the other repository, want 2 (image and attestation)", res.Copied)
	}

	m := dockerManifestInspect(t, repo+":1.0")
	want := "linux/amd64 linux/arm64 linux/arm/v7 attestation attestation attestation"
	if got := strings.Join(platformsOf(m), " "); got != want {
		t.Errorf("docker manifest inspect lists %s, want %s", got, want)
	}
	// The Docker CLI drops annotations: check the references on the raw index.
	r = e.Run(t, "inspect", "--format", "raw", repo+":1.0")
	if err := json.Unmarshal([]byte(r.Stdout), &m); err != nil {
		t.Fatalf("mab inspect --format raw printed %q: %v", r.Stdout, err)
	}
	for _, d := range m.Manifests[3:] {
		ref := d.Annotations["vnd.docker.reference.digest"]
		found := false
		for _, img := range m.Manifests[:3] {
			found = found || img.Digest.String() == ref
		}
		if !found {
			t.Errorf("attestation %s refers to %s, not a child of the index", d.Digest, ref)
		}
	}

	r = e.Run(t, "inspect", "--verify", repo+":1.0")
	if r.ExitCode != 0 || strings.Count(r.Stdout, "attestation for") != 3 || strings.Contains(r.Stdout, "unknown/unknown") {
		t.Errorf("mab inspect --verify exited %d:\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}

	// Amend: replace arm64 with the base image's (its config says arm64/v8),
	// copied from its repository.
	base, err := remote.Index(mustRef(t, e.Base()))
	if err != nil {
		t.Fatal(err)
	}
	bm, _ := base.IndexManifest()
	var baseARM64 string
	for _, d := range bm.Manifests {
		if d.Platform != nil && d.Platform.Architecture == "arm64" {
			baseARM64 = d.Digest.String()
		}
	}
	r = e.Run(t, "merge", "--amend", "--platform", "linux/arm64", "-t", repo+":1.0", e.Base())
	if r.ExitCode != 0 {
		t.Fatalf("mab merge --amend exited %d: %s", r.ExitCode, r.Stderr)
	}
	m = dockerManifestInspect(t, repo+":1.0")
	if got, want := strings.Join(platformsOf(m), " "), "linux/amd64 linux/arm64/v8 linux/arm/v7 attestation attestation"; got != want {
		t.Errorf("after --amend: %s, want %s (the replaced arm64's attestation dropped)", got, want)
	}
	if len(m.Manifests) > 1 && m.Manifests[1].Digest.String() != baseARM64 {
		t.Errorf("arm64 child is %s, want the base image's %s", m.Manifests[1].Digest, baseARM64)
	}
}

func TestMergeNamesMissingSourceOnRealRegistry(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "missing")
	r := e.Run(t, "merge", "-t", repo+":1.0", e.Base(), repo+":nope")
	if r.ExitCode != 1 {
		t.Fatalf("exit %d, want 1", r.ExitCode)
	}
	if last := testenv.LastLine(r.Stderr); !strings.Contains(last, "source "+repo+":nope: no such manifest") {
		t.Errorf("error %q, want it to name the source", last)
	}
	if strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Errorf("stderr is not one line: %q", r.Stderr)
	}
}

// Two jobs amend one tag at the same time, each adding a platform: on the
// real registry, neither platform is lost.
func TestMergeConcurrentAmendsLoseNoPlatform(t *testing.T) {
	e := testenv.Get(t)
	for round := range 5 {
		target := uniqueRepo(e, "race") + ":1.0"
		if r := e.Run(t, "merge", "--platform", "linux/amd64", "-t", target, e.Base()); r.ExitCode != 0 {
			t.Fatalf("creating %s: %s", target, r.Stderr)
		}
		var wg sync.WaitGroup
		results := make([]testenv.Result, 2)
		for i, p := range []string{"linux/arm64", "linux/arm/v7"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = e.Run(t, "merge", "--amend", "--format", "json", "--platform", p, "-t", target, e.Base())
			}()
		}
		wg.Wait()
		for _, r := range results {
			if r.ExitCode != 0 {
				t.Fatalf("round %d: concurrent amend exited %d: %s", round, r.ExitCode, r.Stderr)
			}
		}
		got := platformsOf(dockerManifestInspect(t, target))
		slices.Sort(got)
		if strings.Join(got, " ") != "linux/amd64 linux/arm/v7 linux/arm64/v8" {
			t.Fatalf("round %d: %s lists %v after two concurrent amends", round, target, got)
		}
	}
}

func TestMergeRulesOnRealRegistry(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "rules")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"duplicate platform", []string{"--platform", "linux/arm64", e.Base(), e.Base()}, "duplicate platform"},
		{"override contradicts config", []string{e.Base() + "=linux/amd64"}, "needs a single image"},
		{"platform nobody provides", []string{"--platform", "linux/s390x", e.Base()}, "no source provides platform linux/s390x"},
		{"bad reference", []string{"Not A Ref"}, `invalid source "Not A Ref"`},
		{"unreachable source", []string{"127.0.0.1:1/app:1"}, "connecting to registry 127.0.0.1:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.Run(t, append([]string{"merge", "-t", repo + ":bad"}, c.args...)...)
			if r.ExitCode != 1 || !strings.Contains(testenv.LastLine(r.Stderr), c.want) {
				t.Errorf("exit %d, stderr %q, want %q", r.ExitCode, r.Stderr, c.want)
			}
		})
	}
	if _, err := remote.Head(mustRef(t, repo+":bad")); err == nil {
		t.Error("a failed merge wrote the target")
	}

	// --dry-run prints the index and pushes nothing; the base's children are
	// then Docker or OCI manifests, and auto picks the matching list.
	r := e.Run(t, "merge", "--dry-run", "-t", repo+":dry", e.Base())
	var m v1.IndexManifest
	if r.ExitCode != 0 || json.Unmarshal([]byte(r.Stdout), &m) != nil || len(m.Manifests) != 3 {
		t.Fatalf("--dry-run exited %d: %q %s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if _, err := remote.Head(mustRef(t, repo+":dry")); err == nil {
		t.Error("--dry-run pushed")
	}
	wantMT := "application/vnd.oci.image.index.v1+json"
	if m.Manifests[0].MediaType == "application/vnd.docker.distribution.manifest.v2+json" {
		wantMT = "application/vnd.docker.distribution.manifest.list.v2+json"
	}
	if string(m.MediaType) != wantMT {
		t.Errorf("auto chose %s for %s children", m.MediaType, m.Manifests[0].MediaType)
	}
}
