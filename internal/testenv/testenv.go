// Package testenv gives end-to-end tests the environment that `make e2e-up`
// started: the BuildKit address, the registry, and a freshly built mab.
//
// End-to-end tests skip only under -short (the explicit unit suite).
// Otherwise a missing environment fails the test: it is never counted as
// passed.
package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Env is the running end-to-end environment.
type Env struct {
	// BuildkitHost is the buildkitd address (BUILDKIT_HOST).
	BuildkitHost string
	// Registry is the plain-HTTP registry, 127.0.0.1:PORT.
	Registry string
	// Node is a second buildkitd, for the --node tests.
	Node string
	// DockerHost is the dockerd that e2e-up started.
	DockerHost string
	// Buildctl is BuildKit's CLI at the version of buildkitd, for tests
	// that drive BuildKit without mab (baselines, provenance attestations).
	Buildctl string
	// Buildx is docker buildx, built by e2e-up and run standalone (not as
	// a docker CLI plugin), for the buildx:// builder tests.
	Buildx string
	// SSHConfig is an ssh client config whose host "mab-e2e" is the sshd
	// that e2e-up runs on loopback, for the ssh:// builder tests.
	SSHConfig string
	// AuthRegistry demands a login: user "mab-e2e", the password in
	// AuthPasswordFile.
	AuthRegistry, AuthPasswordFile string
	// Containerd is the socket of the containerd that e2e-up starts on its
	// own (MAB_TEST_CONTAINERD), for `ctr images import`; read it through
	// ContainerdSocket.
	Containerd string
	// Root is the repository's top folder.
	Root string
}

// ContainerdSocket is the environment's containerd socket; it fails the
// test when the environment has none (an environment started before
// e2e-up started containerd: run `make e2e-up` again).
func (e Env) ContainerdSocket(t testing.TB) string {
	t.Helper()
	if e.Containerd == "" {
		t.Fatal("end-to-end environment incomplete: MAB_TEST_CONTAINERD is not set; run `make e2e-up`")
	}
	return e.Containerd
}

// envVars are what e2e-up writes to .e2e/env.
var envVars = []string{"BUILDKIT_HOST", "MAB_TEST_REGISTRY", "MAB_TEST_NODE", "DOCKER_HOST", "MAB_TEST_BUILDCTL", "MAB_TEST_BUILDX", "MAB_TEST_SSH_CONFIG",
	"MAB_TEST_AUTH_REGISTRY", "MAB_TEST_AUTH_PASSWORD_FILE"}

// optionalVars are what e2e-up writes to .e2e/env that a test asks for
// through its own accessor, which fails when it is missing.
var optionalVars = []string{"MAB_TEST_CONTAINERD"}

// Get returns the environment, or skips the test under -short, or fails it
// when the environment is not up.
func Get(t testing.TB) Env {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped by -short")
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, k := range envVars {
		vars[k] = os.Getenv(k)
	}
	if vars["BUILDKIT_HOST"] == "" || vars["MAB_TEST_REGISTRY"] == "" {
		fileEnv, err := readEnvFile(filepath.Join(root, ".e2e", "env"))
		if err != nil {
			t.Fatalf("end-to-end environment not up (%v): run `make e2e-up` first, or `go test -short ./...` for the unit suite", err)
		}
		for _, k := range envVars {
			if vars[k] == "" {
				vars[k] = fileEnv[k]
			}
		}
	}
	for _, k := range envVars {
		if vars[k] == "" {
			t.Fatalf("end-to-end environment incomplete: %s is not set; run `make e2e-up`", k)
		}
	}
	// Variables that later e2e-up versions add: from the process, else
	// from .e2e/env when it has them.
	for _, k := range optionalVars {
		if vars[k] = os.Getenv(k); vars[k] == "" {
			if fileEnv, err := readEnvFile(filepath.Join(root, ".e2e", "env")); err == nil {
				vars[k] = fileEnv[k]
			}
		}
	}
	return Env{BuildkitHost: vars["BUILDKIT_HOST"], Containerd: vars["MAB_TEST_CONTAINERD"], Registry: vars["MAB_TEST_REGISTRY"], Node: vars["MAB_TEST_NODE"],
		DockerHost: vars["DOCKER_HOST"], Buildctl: vars["MAB_TEST_BUILDCTL"], Buildx: vars["MAB_TEST_BUILDX"], SSHConfig: vars["MAB_TEST_SSH_CONFIG"],
		AuthRegistry: vars["MAB_TEST_AUTH_REGISTRY"], AuthPasswordFile: vars["MAB_TEST_AUTH_PASSWORD_FILE"], Root: root}
}

// Buildkitd is the buildkitd binary that e2e-up built, beside buildctl
// and of the same version.
func (e Env) Buildkitd() string {
	return filepath.Join(filepath.Dir(e.Buildctl), "buildkitd-"+strings.TrimPrefix(filepath.Base(e.Buildctl), "buildctl-"))
}

// Base is the multi-arch busybox image that e2e-up seeded.
func (e Env) Base() string { return e.Registry + "/busybox:latest" }

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Mab builds the mab binary once per test process and returns its path.
func (e Env) Mab(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mab-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mab")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/mab")
		cmd.Dir = e.Root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building mab: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Result is one run of the mab binary.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
}

// Run runs the mab binary with args, BUILDKIT_HOST set to the environment's.
func (e Env) Run(t testing.TB, args ...string) Result {
	t.Helper()
	return e.RunWith(t, func(*exec.Cmd) {}, args...)
}

// RunEnv runs the mab binary with args and env added to (and overriding)
// the test's environment.
func (e Env) RunEnv(t testing.TB, env []string, args ...string) Result {
	t.Helper()
	return e.RunWith(t, func(cmd *exec.Cmd) { cmd.Env = append(cmd.Env, env...) }, args...)
}

// Command runs another program (docker, buildctl) against the
// environment and returns its combined output.
func (e Env) Command(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "BUILDKIT_HOST="+e.BuildkitHost, "DOCKER_HOST="+e.DockerHost)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// LastLine is the last non-empty line of s: where mab puts its error.
func LastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(s.Text()), "export ")
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out, s.Err()
}

// RestartDockerd stops the environment's dockerd and starts it again with
// the same command line, for a test that needs the daemon's BuildKit to
// forget what it saw (it never drops a platform it once listed).
func (e Env) RestartDockerd(t testing.TB) {
	t.Helper()
	pidFile := filepath.Join(e.Root, ".e2e", "dockerd.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("dockerd pid: %v", err)
	}
	pid := strings.TrimSpace(string(b))
	cmdline, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
	if err != nil {
		t.Fatalf("dockerd command line: %v", err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if kill := exec.Command("kill", pid); kill.Run() != nil {
		t.Fatalf("stopping dockerd %s", pid)
	}
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(filepath.Join("/proc", pid)); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf, err := os.OpenFile(filepath.Join(e.Root, ".e2e", "dockerd.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dockerd: %v", err)
	}
	cmd.Process.Release()
	for i := 0; i < 100; i++ {
		if out, err := e.Command(t, "docker", "version"); err == nil && strings.Contains(out, "Server") {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatal("dockerd did not come back; see .e2e/dockerd.log")
}

// StartSSHAgent starts a real ssh-agent (Debian's openssh-client) on a
// socket of the test's own, stopped when the test ends, and returns the
// socket's path.
func StartSSHAgent(t testing.TB) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatalf("ssh-agent (Debian's openssh-client): %v", err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for range 50 {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("ssh-agent did not create %s in 5s", sock)
	return ""
}
