package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/testenv"
)

// TestBuildStartsItsOwnBuildkitd: with no builder given, no buildkitd at
// the default socket and no Docker daemon, mab starts buildkitd from PATH,
// builds with it, reuses it, and `mab builder stop` ends it.
func TestBuildStartsItsOwnBuildkitd(t *testing.T) {
	e := testenv.Get(t)
	if _, err := os.Stat("/run/buildkit/buildkitd.sock"); err == nil {
		t.Fatal("a buildkitd listens at the default socket: this test needs a machine without one")
	}
	bin := t.TempDir()
	buildkitd := e.Buildkitd()
	if err := os.Symlink(buildkitd, filepath.Join(bin, "buildkitd")); err != nil {
		t.Fatal(err)
	}
	// A short state folder: unix socket paths are limited to 108 bytes.
	state, err := os.MkdirTemp("/tmp", "mabst")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"BUILDKIT_HOST=", "DOCKER_HOST=unix:///nonexistent/docker.sock",
		"XDG_STATE_HOME=" + state, "PATH=" + bin + ":" + os.Getenv("PATH"),
	}
	t.Cleanup(func() {
		e.RunEnv(t, env, "builder", "stop")
		os.RemoveAll(state)
	})
	repo := uniqueRepo(e, "own")
	for i, tag := range []string{"1", "2"} {
		r := e.RunEnv(t, env, "build", "--insecure", "--progress", "quiet", "--platform", "linux/amd64",
			"--build-arg", "BASE="+e.Base(), "-t", repo+":"+tag, filepath.Join(e.Root, "examples", "hello"))
		if r.ExitCode != 0 {
			t.Fatalf("build %d exited %d:\n%s", i+1, r.ExitCode, r.Stderr)
		}
	}
	pid, err := os.ReadFile(filepath.Join(state, "mab", "buildkitd.pid"))
	if err != nil {
		t.Fatalf("mab's buildkitd left no pid file: %v", err)
	}
	ls := e.RunEnv(t, env, "builder", "ls")
	if !strings.Contains(ls.Stdout, filepath.Join(state, "mab", "buildkitd.sock")) || !strings.Contains(ls.Stdout, "ok") {
		t.Errorf("builder ls does not show mab's buildkitd as ok:\n%s", ls.Stdout)
	}
	stop := e.RunEnv(t, env, "builder", "stop")
	if stop.ExitCode != 0 || !strings.Contains(stop.Stderr, "stopped") {
		t.Fatalf("builder stop: exit %d, %s", stop.ExitCode, stop.Stderr)
	}
	if _, err := os.Stat(filepath.Join("/proc", strings.TrimSpace(string(pid)))); err == nil {
		t.Errorf("buildkitd (pid %s) still runs after `mab builder stop`", strings.TrimSpace(string(pid)))
	}
}
