package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
)

// TestExampleGoCross cross-compiles examples/go-cross for three platforms
// and runs each image: the binary must report its own platform.
func TestExampleGoCross(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "go-cross")
	r := e.Run(t, "build", "--insecure", "--progress", "plain",
		"--platform", "linux/amd64,linux/arm64,linux/arm/v7",
		"--build-arg", "GO_IMAGE="+e.Registry+"/golang:local",
		"-t", repo+":1", filepath.Join(e.Root, "examples", "go-cross"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
		out, err := e.Command(t, "docker", "run", "--rm", "--platform", p, repo+":1")
		if err != nil {
			t.Fatalf("docker run --platform %s: %v\n%s", p, err, out)
		}
		want := "hello from " + strings.TrimSuffix(p, "/v7")
		if !strings.Contains(out, want) {
			t.Errorf("%s printed %q, want %q", p, out, want)
		}
	}
}

// TestExampleIoTEdgeMakefile runs the example's Makefile targets as a
// project would, with this checkout's mab.
func TestExampleIoTEdgeMakefile(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "iot")
	out, err := e.Command(t, "make", "-C", filepath.Join(e.Root, "examples", "iot-edge"), "image", "inspect",
		"MAB="+e.Mab(t), "IMAGE="+repo, "VERSION=1.0.0", "MAB_FLAGS=--insecure --progress=quiet",
		"BUILD_ARGS=--build-arg=BASE="+e.Base())
	if err != nil {
		t.Fatalf("make image inspect: %v\n%s", err, out)
	}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/arm/v7"} {
		if !strings.Contains(out, p) {
			t.Errorf("make inspect lacks %s:\n%s", p, out)
		}
	}
	out, err = e.Command(t, "docker", "run", "--rm", "--platform", "linux/arm/v7", repo+":1.0.0")
	if err != nil || !strings.Contains(out, "edge agent on armv7l") {
		t.Errorf("the arm/v7 agent printed %q (%v)", out, err)
	}

	// push points :latest at the same index, without rebuilding.
	out, err = e.Command(t, "make", "-C", filepath.Join(e.Root, "examples", "iot-edge"), "push",
		"MAB="+e.Mab(t), "IMAGE="+repo, "VERSION=1.0.0", "MAB_FLAGS=--insecure --progress=quiet",
		"BUILD_ARGS=--build-arg=BASE="+e.Base())
	if err != nil {
		t.Fatalf("make push: %v\n%s", err, out)
	}
	version, err := remote.Head(mustRef(t, repo+":1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	latest, err := remote.Head(mustRef(t, repo+":latest"))
	if err != nil {
		t.Fatalf("make push left no :latest: %v", err)
	}
	if latest.Digest != version.Digest {
		t.Errorf(":latest is %s, :1.0.0 is %s", latest.Digest, version.Digest)
	}
}
