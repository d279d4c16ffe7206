package builder

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/pkg/authconfig"
)

// TestRegistryAuthUsesTheEngineAPIEncoding: what registryAuth sends in
// X-Registry-Auth is what the daemon's own decoder reads back.
func TestRegistryAuthUsesTheEngineAPIEncoding(t *testing.T) {
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret"))
	cfg := `{"auths":{"127.0.0.1:5000":{"auth":"` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	enc, err := registryAuth("127.0.0.1:5000/app:1-arm64")
	if err != nil {
		t.Fatal(err)
	}
	ac, err := authconfig.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if ac.Username != "ci" || ac.Password != "s3cret" || ac.ServerAddress != "127.0.0.1:5000" {
		t.Errorf("decoded %+v", ac)
	}
}
