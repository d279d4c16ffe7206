package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// authRegistry is an in-process registry that demands alice:s3cret.
func authRegistry(t *testing.T) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// runIn runs the command tree with stdin.
func runIn(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := NewRootCmd()
	var out, errb bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

// configDir is a fresh, empty --config folder; DOCKER_CONFIG, which
// --config sets, is restored after the test.
func configDir(t *testing.T) string {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", "")
	return filepath.Join(t.TempDir(), "cfg")
}

func TestLoginChecksThenSavesAndLogoutRemoves(t *testing.T) {
	host := authRegistry(t)
	cfg := configDir(t)
	stdout, stderr, err := runIn(t, "s3cret\n", "--config", cfg, "login", host, "-u", "alice", "--password-stdin")
	if err != nil {
		t.Fatalf("login: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "Login Succeeded") || strings.Contains(stdout+stderr, "s3cret") {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(cfg, "config.json")); err != nil {
		t.Fatalf("no config written: %v", err)
	}
	// inspect reads the same folder: the registry answers (nothing is
	// there) instead of refusing.
	_, _, err = runIn(t, "", "--config", cfg, "inspect", host+"/app:1")
	if err == nil || strings.Contains(err.Error(), "refused access") {
		t.Fatalf("inspect after login: %v", err)
	}
	stdout, _, err = runIn(t, "", "--config", cfg, "logout", host)
	if err != nil || !strings.Contains(stdout, "Removed login credentials for "+host) {
		t.Fatalf("logout: %q, %v", stdout, err)
	}
	_, _, err = runIn(t, "", "--config", cfg, "inspect", host+"/app:1")
	if err == nil || !strings.Contains(err.Error(), "mab login "+host) {
		t.Fatalf("inspect after logout: %v, want a refusal naming mab login", err)
	}
	stdout, _, err = runIn(t, "", "--config", cfg, "logout", host)
	if err != nil || !strings.Contains(stdout, "Not logged in to "+host) {
		t.Errorf("second logout: %q, %v", stdout, err)
	}
}

func TestLoginRefusesWithoutWriting(t *testing.T) {
	host := authRegistry(t)
	cases := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"wrong password", "not-it\n", []string{"login", host, "-u", "alice", "--password-stdin"}, "refused access (401 Unauthorized)"},
		{"password in argv", "", []string{"login", host, "-u", "alice", "--password", "s3cret"}, "pipe the password to --password-stdin"},
		{"both", "s3cret", []string{"login", host, "-u", "alice", "--password", "s3cret", "--password-stdin"}, "exclude each other"},
		{"empty", "\n", []string{"login", host, "-u", "alice", "--password-stdin"}, "empty password"},
		{"no user", "s3cret", []string{"login", host, "--password-stdin"}, "username"},
		{"not a terminal", "", []string{"login", host, "-u", "alice"}, "--password-stdin"},
		{"bad registry", "s3cret", []string{"login", "reg.example.com/some/path", "-u", "alice", "--password-stdin"}, "invalid registry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := configDir(t)
			stdout, stderr, err := runIn(t, c.stdin, append([]string{"--config", cfg}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error()+stdout+stderr, "not-it") {
				t.Errorf("the password appears: %v %s %s", err, stdout, stderr)
			}
			if _, err := os.Stat(cfg); !os.IsNotExist(err) {
				t.Errorf("the config folder was written: %v", err)
			}
		})
	}
}

func TestConfigFlagRefusesAFile(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", "")
	f := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(f, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runIn(t, "", "--config", f, "logout", "reg.example.com"); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("err = %v", err)
	}
}
