package merge

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fast keeps retries quick in tests that provoke them.
var fast = WithRetry(5, 10*time.Millisecond)

// wrappedRegistry starts the in-process registry behind wrap, which sees
// every request first.
func wrappedRegistry(t testing.TB, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	s := httptest.NewServer(wrap(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// fixedImage is a deterministic image: one layer holding content, config
// declaring p. Its digest is the same on every run.
func fixedImage(t testing.TB, p v1.Platform, content string, mt types.MediaType) v1.Image {
	t.Helper()
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion,
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		t.Fatal(err)
	}
	layerType := types.DockerLayer
	if mt == types.OCIManifestSchema1 {
		img = mutate.ConfigMediaType(mutate.MediaType(img, mt), types.OCIConfigJSON)
		layerType = types.OCILayer
	}
	img, err = mutate.AppendLayers(img, static.NewLayer([]byte(content), layerType))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./merge -run %s -update to create it)", err, t.Name())
	}
	if string(got) != string(want) {
		t.Errorf("index differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

// staticKeychain hands every registry the same credentials.
type staticKeychain struct{ auth authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

func isManifestPut(r *http.Request, tag string) bool {
	return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/"+tag)
}

// putCompetitor writes raw as app:1.4 straight into the registry handler
// h: another job's index, landing at the moment a test chooses.
func putCompetitor(t *testing.T, h http.Handler, raw []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPut, "/v2/app/manifests/1.4", bytes.NewReader(raw))
	req.Header.Set("Content-Type", string(types.OCIImageIndex))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Errorf("competitor's PUT: %d %s", rec.Code, rec.Body)
	}
}

// ociIndexRaw is the manifest of an OCI index of adds.
func ociIndexRaw(t *testing.T, adds ...mutate.IndexAddendum) []byte {
	t.Helper()
	raw, err := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...).RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
