package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mab-build/mab/internal/testenv"
)

// TestLoginBuildMergeLogout logs in to the registry that demands a login
// with mab itself, into an empty config folder chosen by --config and,
// separately, by $DOCKER_CONFIG, with HOME elsewhere so that nothing else
// holds credentials; then builds and merges with those credentials only,
// logs out, and is refused with advice naming mab login. The password never
// appears in clear in any output or in the config (config.json keeps it
// base64-encoded in auths, docker's own format without a helper).
func TestLoginBuildMergeLogout(t *testing.T) {
	e := testenv.Get(t)
	password := authPassword(t, e)
	encoded := base64.StdEncoding.EncodeToString([]byte("mab-e2e:" + password))
	hello := filepath.Join(e.Root, "examples", "hello")

	for _, how := range []string{"--config", "DOCKER_CONFIG"} {
		t.Run(how, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "docker-config")
			// HOME has no ~/.docker, and the other variables of other
			// credential sources point nowhere.
			env := []string{"HOME=" + t.TempDir(), "XDG_RUNTIME_DIR=", "XDG_CONFIG_HOME=", "REGISTRY_AUTH_FILE="}
			var global []string
			if how == "--config" {
				// $DOCKER_CONFIG names another, empty folder: --config wins.
				env = append(env, "DOCKER_CONFIG="+t.TempDir())
				global = []string{"--config", cfg}
			} else {
				env = append(env, "DOCKER_CONFIG="+cfg)
			}
			mab := func(stdin string, args ...string) testenv.Result {
				t.Helper()
				return e.RunWith(t, func(c *exec.Cmd) {
					c.Env = append(c.Env, env...)
					if stdin != "" {
						c.Stdin = strings.NewReader(stdin)
					}
				}, append(global, args...)...)
			}
			var outputs []string
			keep := func(r testenv.Result) testenv.Result { outputs = append(outputs, r.Stdout, r.Stderr); return r }

			repo := e.AuthRegistry + "/image-login-" + strings.ToLower(strings.TrimPrefix(how, "--")) + fmt.Sprintf("-%d", time.Now().UnixNano())
			r := keep(mab("", "inspect", repo+":1"))
			checkRefused(t, r, "mab login "+e.AuthRegistry)

			r = keep(mab(password+"\n", "login", e.AuthRegistry, "-u", "mab-e2e", "--password-stdin"))
			if r.ExitCode != 0 || !strings.Contains(r.Stdout, "Login Succeeded") {
				t.Fatalf("login exited %d:\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
			}
			b, err := os.ReadFile(filepath.Join(cfg, "config.json"))
			if err != nil {
				t.Fatalf("login wrote no config.json in the chosen folder: %v", err)
			}
			if strings.Contains(string(b), password) || !strings.Contains(string(b), encoded) {
				t.Fatalf("config.json is not docker's auths format, or holds the password in clear:\n%s", strings.ReplaceAll(string(b), password, "***"))
			}

			r = keep(mab("", "build", "--insecure", "--progress", "plain", "--platform", "linux/amd64,linux/arm64",
				"--build-arg", "BASE="+e.Base(), "-t", repo+":1", hello))
			if r.ExitCode != 0 {
				t.Fatalf("build after login exited %d:\n%s", r.ExitCode, r.Stderr)
			}
			r = keep(mab("", "merge", "-t", repo+":merged", repo+":1-amd64", repo+":1-arm64"))
			if r.ExitCode != 0 {
				t.Fatalf("merge after login exited %d:\n%s", r.ExitCode, r.Stderr)
			}
			r = keep(mab("", "inspect", "--verify", repo+":merged"))
			if r.ExitCode != 0 || !strings.Contains(r.Stdout, "linux/arm64") {
				t.Fatalf("inspect after login exited %d:\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
			}

			r = keep(mab("", "logout", e.AuthRegistry))
			if r.ExitCode != 0 || !strings.Contains(r.Stdout, "Removed login credentials for "+e.AuthRegistry) {
				t.Fatalf("logout exited %d:\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
			}
			if b, _ := os.ReadFile(filepath.Join(cfg, "config.json")); strings.Contains(string(b), e.AuthRegistry) {
				t.Errorf("config.json still names the registry after logout:\n%s", b)
			}
			r = keep(mab("", "merge", "-t", repo+":again", repo+":1-amd64", repo+":1-arm64"))
			checkRefused(t, r, "mab login "+e.AuthRegistry)
			r = keep(mab("", "build", "--insecure", "--progress", "plain", "--platform", "linux/amd64",
				"--build-arg", "BASE="+e.Base(), "-t", repo+":2", hello))
			checkRefused(t, r, "mab login "+e.AuthRegistry)

			for _, out := range outputs {
				if strings.Contains(out, password) || strings.Contains(out, encoded) {
					t.Fatalf("a credential appears in mab's output:\n%s", out)
				}
			}
		})
	}
}

// TestLoginRefusesWrongPassword: the registry refuses, mab says so in one
// line, exits 1 and writes no config at all.
func TestLoginRefusesWrongPassword(t *testing.T) {
	e := testenv.Get(t)
	password := authPassword(t, e)
	cfg := filepath.Join(t.TempDir(), "docker-config")
	wrong := "not-" + password
	r := e.RunWith(t, func(c *exec.Cmd) { c.Stdin = strings.NewReader(wrong + "\n") },
		"--config", cfg, "login", e.AuthRegistry, "-u", "mab-e2e", "--password-stdin")
	checkRefused(t, r, "refused access (401 Unauthorized)")
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Errorf("a refused login wrote the config folder (%v)", err)
	}
	if strings.Contains(r.Stdout+r.Stderr, wrong) {
		t.Errorf("the password appears in the output:\n%s", r.Stderr)
	}

	// --password on the command line while stdin could carry it: refused,
	// nothing written.
	r = e.RunWith(t, func(c *exec.Cmd) { c.Stdin = strings.NewReader("") },
		"--config", cfg, "login", e.AuthRegistry, "-u", "mab-e2e", "--password", password)
	checkRefused(t, r, "--password-stdin")
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Errorf("a refused --password wrote the config folder (%v)", err)
	}
	// With standard input on /dev/null, --password-stdin cannot work:
	// --password is accepted, with a warning that does not repeat it.
	r = e.Run(t, "--config", cfg, "login", e.AuthRegistry, "-u", "mab-e2e", "--password", password)
	if r.ExitCode != 0 || !strings.Contains(r.Stderr, "WARNING") || strings.Contains(r.Stdout+r.Stderr, password) {
		t.Fatalf("--password with stdin on /dev/null: exit %d\n%s", r.ExitCode, strings.ReplaceAll(r.Stderr, password, "***"))
	}
}

func authPassword(t *testing.T, e testenv.Env) string {
	t.Helper()
	b, err := os.ReadFile(e.AuthPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
