package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/testenv"
)

// dockerStoreLine is the start of what --load prints about the
// environment's dockerd (Debian's docker.io 20.10: the classic store;
// the containerd image store needs dockerd 24 or later).
func dockerStoreLine(t *testing.T, e testenv.Env) string {
	t.Helper()
	out, err := e.Command(t, "docker", "info", "--format", "{{.ServerVersion}} {{.Driver}}")
	if err != nil {
		t.Fatalf("docker info: %v\n%s", err, out)
	}
	version, driver, _ := strings.Cut(strings.TrimSpace(out), " ")
	return "--load: Docker " + version + " has the classic image store (" + driver + "): "
}

// imageArch is the architecture of the image ref in the environment's
// dockerd.
func imageArch(t *testing.T, e testenv.Env, ref string) string {
	t.Helper()
	out, err := e.Command(t, "docker", "image", "inspect", "--format", "{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}", ref)
	if err != nil {
		t.Fatalf("docker image inspect %s: %v\n%s", ref, err, out)
	}
	return strings.TrimSpace(out)
}

func TestLoadPlatformIntoTheClassicStore(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "archive-load")
	r := e.Run(t, "build", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+e.Base(),
		"-t", repo+":1", "--load", "--load-platform", "linux/arm64", filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	t.Cleanup(func() { e.Command(t, "docker", "rmi", repo+":1", repo+":1-arm64") })
	want := dockerStoreLine(t, e) + "loaded linux/arm64 as " + repo + ":1 and " + repo + ":1-arm64"
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
	}
	for _, ref := range []string{repo + ":1", repo + ":1-arm64"} {
		if got := imageArch(t, e, ref); got != "arm64" && got != "arm64/v8" {
			t.Errorf("%s in dockerd is %s, want arm64", ref, got)
		}
	}
	// It runs, under QEMU (dockerd warns first that it is not the host's).
	if out, err := e.Command(t, "docker", "run", "--rm", repo+":1"); err != nil || testenv.LastLine(out) != "aarch64" {
		t.Errorf("docker run: %v, %q, want aarch64", err, out)
	}
}

func TestLoadFromAnArchiveWithoutARegistry(t *testing.T) {
	e := testenv.Get(t)
	name := "archive-load-" + filepath.Base(t.TempDir()) + ":1"
	archive := filepath.Join(t.TempDir(), "app.tar")
	r := e.Run(t, "build", "--progress", "quiet", "--platform", threePlatforms, "--build-arg", "BASE="+e.Base(),
		"--output", "type=oci,dest="+archive, "-t", name, "--load", filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	t.Cleanup(func() { e.Command(t, "docker", "rmi", name) })
	want := dockerStoreLine(t, e) + "loaded linux/amd64 of " + archive + " as " + name
	if !strings.Contains(r.Stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
	}
	if got := imageArch(t, e, name); got != "amd64" {
		t.Errorf("%s in dockerd is %s, want amd64", name, got)
	}
	if out, err := e.Command(t, "docker", "run", "--rm", name); err != nil || strings.TrimSpace(out) != "x86_64" {
		t.Errorf("docker run: %v, %q, want x86_64", err, out)
	}
}

func TestLoadFailureAfterTheArchiveExitsThreeAndKeepsIt(t *testing.T) {
	e := testenv.Get(t)
	archive := filepath.Join(t.TempDir(), "app.tar")
	r := e.RunEnv(t, []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, "build", "--progress", "quiet", "--platform", "linux/amd64",
		"--build-arg", "BASE="+e.Base(), "--output", "type=oci,dest="+archive, "--load", filepath.Join(e.Root, "examples", "hello"))
	digest := strings.TrimSpace(r.Stdout)
	if r.ExitCode != 3 || !strings.Contains(testenv.LastLine(r.Stderr), archive+" is written ("+digest+"), but then --load failed") {
		t.Fatalf("exit %d, stdout %q, want 3 and the digest:\n%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	if got, _, _ := archiveIndex(t, untar(t, e, archive)); got != digest {
		t.Errorf("the archive holds %s, stdout says %s", got, digest)
	}
}
