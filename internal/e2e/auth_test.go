package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/testenv"
)

// TestCredentialsFromDockerConfig uses the registry that demands a login:
// without credentials mab names the registry and the fix; with them in a
// Docker config (as `docker login` writes it), BuildKit's pushes and mab's
// merge and inspect all get through, and neither the password nor its
// encoded form appears in any output or in the metadata file.
func TestCredentialsFromDockerConfig(t *testing.T) {
	e := testenv.Get(t)
	b, err := os.ReadFile(e.AuthPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(b))
	encoded := base64.StdEncoding.EncodeToString([]byte("mab-e2e:" + password))
	repo := uniqueRepo(e, "auth")
	repo = e.AuthRegistry + strings.TrimPrefix(repo, e.Registry)
	hello := filepath.Join(e.Root, "examples", "hello")
	build := []string{"build", "--insecure", "--progress", "plain", "--platform", "linux/amd64,linux/arm64",
		"--build-arg", "BASE=" + e.Base(), "-t", repo + ":1", hello}

	empty := t.TempDir()
	r := e.RunEnv(t, []string{"DOCKER_CONFIG=" + empty}, "inspect", repo+":1")
	checkRefused(t, r, e.AuthRegistry)
	if !strings.Contains(r.Stderr, "docker login "+e.AuthRegistry) {
		t.Errorf("the error does not say how to log in: %s", r.Stderr)
	}
	r = e.RunEnv(t, []string{"DOCKER_CONFIG=" + empty}, build...)
	checkRefused(t, r, "docker login "+e.AuthRegistry)

	cfg := t.TempDir()
	config := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, e.AuthRegistry, encoded)
	if err := os.WriteFile(filepath.Join(cfg, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(t.TempDir(), "meta.json")
	withCreds := []string{"DOCKER_CONFIG=" + cfg}
	r = e.RunEnv(t, withCreds, append(build[:len(build)-1], "--metadata-file", meta, hello)...)
	if r.ExitCode != 0 {
		t.Fatalf("build with credentials exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	outputs := []string{r.Stdout, r.Stderr}
	for _, args := range [][]string{
		{"inspect", repo + ":1"},
		{"merge", "-t", repo + ":latest", repo + ":1"},
		{"inspect", "--verify", "--format", "json", repo + ":latest"},
	} {
		r = e.RunEnv(t, withCreds, args...)
		if r.ExitCode != 0 {
			t.Fatalf("mab %s exited %d:\n%s", strings.Join(args, " "), r.ExitCode, r.Stderr)
		}
		outputs = append(outputs, r.Stdout, r.Stderr)
	}
	m, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(m))
	for _, out := range outputs {
		if strings.Contains(out, password) || strings.Contains(out, encoded) {
			t.Fatalf("a credential appears in mab's output:\n%s", out)
		}
	}
}
