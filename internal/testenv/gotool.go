package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	toolMu    sync.Mutex
	toolBuilt = map[string]string{}
)

// GoTool returns the path of the Go command pkg@version (for example
// "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"), building it with
// `go install` from the Go module proxy into ROOT/.cache/bin/NAME-VERSION
// the first time any test asks for it. The binary is kept there, so a
// machine builds each pinned tool once, and tests of several packages may
// ask at once: each builds into a folder of its own and renames.
// A version is required: an unpinned tool would change under the tests.
func GoTool(t testing.TB, pkgAtVersion string) string {
	t.Helper()
	pkg, version, ok := strings.Cut(pkgAtVersion, "@")
	if !ok || pkg == "" || version == "" || version == "latest" {
		t.Fatalf("GoTool(%q): want module/cmd/name@version, pinned", pkgAtVersion)
	}
	toolMu.Lock()
	defer toolMu.Unlock()
	if p, ok := toolBuilt[pkgAtVersion]; ok {
		return p
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p, err := installGoTool(filepath.Join(root, ".cache", "bin"), pkg, version)
	if err != nil {
		t.Fatal(err)
	}
	toolBuilt[pkgAtVersion] = p
	return p
}

func installGoTool(bin, pkg, version string) (string, error) {
	dest := filepath.Join(bin, path.Base(pkg)+"-"+version)
	if fi, err := os.Stat(dest); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return dest, nil
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", fmt.Errorf("installing %s@%s: %w", pkg, version, err)
	}
	gobin, err := os.MkdirTemp(bin, "gobin-")
	if err != nil {
		return "", fmt.Errorf("installing %s@%s: %w", pkg, version, err)
	}
	defer os.RemoveAll(gobin)
	cmd := exec.Command("go", "install", pkg+"@"+version)
	// Outside any module, so neither go.mod nor GOFLAGS=-mod=… of the
	// caller bears on the tool's own dependencies.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", pkg, version, err, out)
	}
	if err := os.Rename(filepath.Join(gobin, path.Base(pkg)), dest); err != nil {
		return "", fmt.Errorf("installing %s@%s: %w", pkg, version, err)
	}
	return dest, nil
}

// ModVersion is the version of module that mab's go.mod requires, so a
// tool of that module (crane of go-containerregistry) is pinned by go.mod.
func ModVersion(t testing.TB, module string) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	return strings.TrimSpace(string(out))
}

// The linters and registry clients the end-to-end tests run, pinned.
const (
	actionlintPkg = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"
	regctlPkg     = "github.com/regclient/regclient/cmd/regctl@v0.11.7"
	cranePkg      = "github.com/google/go-containerregistry/cmd/crane"
)

// Actionlint is rhysd/actionlint, the GitHub Actions workflow linter.
func Actionlint(t testing.TB) string { return GoTool(t, actionlintPkg) }

// Regctl is regclient's CLI.
func Regctl(t testing.TB) string { return GoTool(t, regctlPkg) }

// Crane is go-containerregistry's CLI at the version mab's go.mod requires.
func Crane(t testing.TB) string {
	return GoTool(t, cranePkg+"@"+ModVersion(t, "github.com/google/go-containerregistry"))
}
