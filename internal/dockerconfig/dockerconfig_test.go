package dockerconfig

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// useDir points the process at a fresh config folder for one test.
func useDir(t *testing.T) string {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", "") // restored after the test; SetDir sets it
	dir := filepath.Join(t.TempDir(), "docker-config")
	if err := SetDir(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestStoreWritesDockersFormatAndKeychainReadsIt(t *testing.T) {
	dir := useDir(t)
	if os.Getenv("DOCKER_CONFIG") != dir {
		t.Fatalf("DOCKER_CONFIG = %q, want %q", os.Getenv("DOCKER_CONFIG"), dir)
	}
	where, err := Store("reg.example.com:5000", "alice", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if where != filepath.Join(dir, "config.json") {
		t.Errorf("stored in %q, want the config file", where)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cret") || !strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))) {
		t.Errorf("config.json is not docker's auths format:\n%s", b)
	}
	fi, err := os.Stat(filepath.Join(dir, "config.json"))
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("config.json mode %v, want no access for others", fi.Mode())
	}
	repo, _ := name.NewRepository("reg.example.com:5000/team/app")
	auth, err := Keychain.Resolve(repo)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := auth.Authorization()
	if err != nil || cfg.Username != "alice" || cfg.Password != "s3cret" {
		t.Fatalf("keychain gave %+v, %v", cfg, err)
	}
	other, _ := name.NewRegistry("other.example.com")
	if auth, _ := Keychain.Resolve(other); auth != authn.Anonymous {
		t.Errorf("another registry got %v, want anonymous", auth)
	}
}

func TestEraseRemovesEveryKeyAndReportsNone(t *testing.T) {
	dir := useDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	enc := base64.StdEncoding.EncodeToString([]byte("bob:pw"))
	cfg := `{"auths":{"reg.example.com":{"auth":"` + enc + `"},"https://reg.example.com":{"auth":"` + enc + `"},"keep.example.com":{"auth":"` + enc + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	found, err := Erase("reg.example.com")
	if err != nil || !found {
		t.Fatalf("Erase = %v, %v; want found", found, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if strings.Contains(string(b), "reg.example.com") || !strings.Contains(string(b), "keep.example.com") {
		t.Errorf("after logout:\n%s", b)
	}
	if found, err := Erase("reg.example.com"); err != nil || found {
		t.Errorf("second Erase = %v, %v; want nothing found", found, err)
	}
}

func TestHubKey(t *testing.T) {
	for _, r := range []string{"", "index.docker.io", "docker.io", "registry-1.docker.io"} {
		if got := ServerKey(r); got != HubServer {
			t.Errorf("ServerKey(%q) = %q", r, got)
		}
	}
	if got := ServerKey("127.0.0.1:5000"); got != "127.0.0.1:5000" {
		t.Errorf("ServerKey = %q", got)
	}
}

func TestMalformedConfigIsAnErrorNotOverwritten(t *testing.T) {
	dir := useDir(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Store("reg.example.com", "alice", "s3cret"); err == nil {
		t.Fatal("stored into a malformed config")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); string(b) != "{not json" {
		t.Errorf("the malformed config was rewritten: %s", b)
	}
	if _, err := Keychain.Resolve(name.MustParseReference("reg.example.com/a").Context()); err == nil {
		t.Error("the keychain read a malformed config as empty")
	}
}

func TestSetDirRefusesAFile(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", "")
	f := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(f, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetDir(f); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("SetDir(file) = %v", err)
	}
}
