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
	"testing"
)

// Env is the running end-to-end environment.
type Env struct {
	// BuildkitHost is the buildkitd address (BUILDKIT_HOST).
	BuildkitHost string
	// Registry is the plain-HTTP registry, 127.0.0.1:PORT.
	Registry string
	// Root is the repository's top folder.
	Root string
	// Buildctl is the buildctl of the same version as buildkitd
	// (MAB_BUILDCTL), for tests that need BuildKit features mab does not
	// drive, such as provenance attestations. Empty when unknown.
	Buildctl string
}

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
	e := Env{BuildkitHost: os.Getenv("BUILDKIT_HOST"), Registry: os.Getenv("MAB_TEST_REGISTRY"), Root: root, Buildctl: os.Getenv("MAB_BUILDCTL")}
	if e.BuildkitHost == "" || e.Registry == "" || e.Buildctl == "" {
		fileEnv, err := readEnvFile(filepath.Join(root, ".e2e", "env"))
		if err != nil {
			t.Fatalf("end-to-end environment not up (%v): run `make e2e-up` first, or `go test -short ./...` for the unit suite", err)
		}
		if e.BuildkitHost == "" {
			e.BuildkitHost = fileEnv["BUILDKIT_HOST"]
		}
		if e.Registry == "" {
			e.Registry = fileEnv["MAB_TEST_REGISTRY"]
		}
		if e.Buildctl == "" {
			e.Buildctl = fileEnv["MAB_BUILDCTL"]
		}
	}
	if e.BuildkitHost == "" || e.Registry == "" {
		t.Fatal("end-to-end environment incomplete: BUILDKIT_HOST and MAB_TEST_REGISTRY must be set; run `make e2e-up`")
	}
	return e
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
	cmd := exec.Command(e.Mab(t), args...)
	cmd.Env = append(os.Environ(), "BUILDKIT_HOST="+e.BuildkitHost)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.ExitCode = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running mab: %v", err)
	}
	return r
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
