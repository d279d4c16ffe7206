package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/internal/testenv"
)

// startBuild starts `mab build` of a Dockerfile whose RUN step sleeps, and
// returns once the solve is under way (its RUN step is in the progress).
func startBuild(t *testing.T, e testenv.Env, repo, md string) (*exec.Cmd, *strings.Builder, *syncWriter) {
	t.Helper()
	return startBuildOn(t, e, e.BuildkitHost, repo+":1", md, 60)
}

// startBuildOn is startBuild on the builder at addr, to tag, with a RUN
// step that sleeps for the given seconds.
func startBuildOn(t *testing.T, e testenv.Env, addr, tag, md string, seconds int) (*exec.Cmd, *strings.Builder, *syncWriter) {
	t.Helper()
	dir := t.TempDir()
	writeDockerfile(t, dir, fmt.Sprintf("ARG BASE\nFROM ${BASE}\nRUN echo started-sleeping && sleep %d\n", seconds))
	cmd := exec.Command(e.Mab(t), "build", "--insecure", "--progress", "plain", "--no-cache", "--platform", "linux/amd64",
		"--build-arg", "BASE="+e.Base(), "--metadata-file", md, "-t", tag, dir)
	cmd.Env = append(os.Environ(), "BUILDKIT_HOST="+addr)
	var out strings.Builder
	errb := &syncWriter{b: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = &out, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(errb.String(), "started-sleeping") {
		if time.Now().After(deadline) {
			t.Fatalf("the RUN step did not start in 60s:\n%s", errb)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return cmd, &out, errb
}

// waitExit waits at most limit for cmd and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		t.Fatalf("mab did not exit within %s of the signal", limit)
		return -1
	}
}

func TestSignalDuringSolveExitsOneAndLeavesTagUnwritten(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "sigint")
	md := filepath.Join(t.TempDir(), "build.json")
	cmd, _, stderr := startBuild(t, e, repo, md)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, 30*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "stopping") || !strings.Contains(testenv.LastLine(stderr.String()), "left unchanged") {
		t.Errorf("stderr does not say it stopped and left the tag:\n%s", stderr)
	}
	assertTagMissing(t, repo+":1")
	var meta pipeline.Metadata
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Digest != "" || meta.Error == "" {
		t.Errorf("metadata %s (%v)", b, err)
	}
}

func TestSecondSignalQuitsAtOnceNamingTheStage(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "sigint2")
	cmd, _, stderr := startBuild(t, e, repo, filepath.Join(t.TempDir(), "build.json"))
	// Two different signals back to back: two of one kind may be merged
	// by the kernel before Go reads them, and the first alone stops mab
	// in a fraction of a second.
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, 5*time.Second); code != 130 {
		t.Fatalf("exit %d, want 130:\n%s", code, stderr)
	}
	if want := "mab: quit at once at stage planned: the final tag was not written"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
	assertTagMissing(t, repo+":1")
}

func TestUnwritableMetadataFileRefusedBeforeBuilding(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "mdfile")
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\n")
	for _, md := range []string{filepath.Join(dir, "missing", "m.json"), dir, "/proc/mab.json"} {
		r := e.Run(t, "build", "--insecure", "--platform", "linux/amd64", "--build-arg", "BASE="+e.Base(), "--metadata-file", md, "-t", repo+":1", dir)
		if r.ExitCode != 1 || !strings.Contains(testenv.LastLine(r.Stderr), "invalid --metadata-file") {
			t.Errorf("%s: exit %d, %s", md, r.ExitCode, testenv.LastLine(r.Stderr))
		}
	}
	assertTagMissing(t, repo+":1-amd64")
	assertTagMissing(t, repo+":1")
}

func TestLoadFailureAfterPublishExitsThreeAndPrintsDigest(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "loadfail")
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\n")
	r := e.RunEnv(t, []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"},
		"build", "--insecure", "--progress", "quiet", "--load", "--platform", "linux/amd64", "--build-arg", "BASE="+e.Base(), "-t", repo+":1", dir)
	if r.ExitCode != 3 || !strings.Contains(testenv.LastLine(r.Stderr), "is published (sha256:") || !strings.Contains(r.Stderr, "--load failed") {
		t.Fatalf("exit %d, want 3:\n%s", r.ExitCode, r.Stderr)
	}
	d, err := remote.Head(mustRef(t, repo+":1"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(r.Stdout) != d.Digest.String() {
		t.Errorf("stdout %q, the tag holds %s", r.Stdout, d.Digest)
	}
}

// syncWriter is a strings.Builder that a process writes to while the test
// reads it.
type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestInsecureRegistryAllowsOnlyTheNamedRegistry builds through the real
// BuildKit with --insecure-registry naming the environment's registry
// instead of the global --insecure.
func TestInsecureRegistryAllowsOnlyTheNamedRegistry(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "insecreg")
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\n")
	r := e.Run(t, "build", "--insecure-registry", e.Registry, "--progress", "quiet", "--platform", "linux/amd64",
		"--build-arg", "BASE="+e.Base(), "-t", repo+":1", dir)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	d, err := remote.Head(mustRef(t, repo+":1"))
	if err != nil || strings.TrimSpace(r.Stdout) != d.Digest.String() {
		t.Errorf("stdout %q, tag %v (%v)", r.Stdout, d, err)
	}
	bad := e.Run(t, "build", "--insecure-registry", "reg/x", "--platform", "linux/amd64", "-t", repo+":2", dir)
	if bad.ExitCode != 1 || !strings.Contains(bad.Stderr, "invalid --insecure-registry") {
		t.Errorf("a bad --insecure-registry: exit %d, %s", bad.ExitCode, bad.Stderr)
	}
}
