package merge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// fuzzSourceTag is the source every FuzzAssemble input is served as.
const fuzzSourceTag = "registry.fuzz/app:source"

// servedManifest answers GET and HEAD of fuzzSourceTag with the bytes of
// the current input, and passes everything else to the in-process
// registry that holds the real images the inputs may name.
type servedManifest struct {
	next http.Handler
	mu   sync.Mutex
	raw  []byte
	mt   string
}

func (s *servedManifest) set(raw []byte, mt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw, s.mt = raw, mt
}

func (s *servedManifest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v2/app/manifests/source" {
		s.next.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	raw, mt := s.raw, s.mt
	s.mu.Unlock()
	sum := sha256.Sum256(raw)
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Docker-Content-Digest", "sha256:"+hex.EncodeToString(sum[:]))
	w.Header().Set("Content-Length", fmt.Sprint(len(raw)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(raw)
	}
}

// inProcess is a RoundTripper that hands each request to a handler in this
// process: no socket, so one input costs a few handler calls.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil {
		r.Body = http.NoBody
	}
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	resp := w.Result()
	resp.Request = r
	return resp, nil
}

// FuzzAssemble serves arbitrary bytes, under one of the manifest media
// types, as the only source of Assemble, beside real images of amd64,
// arm64 and arm/v7 that the bytes may name by digest. Whatever the bytes,
// Assemble must not panic, and an index it returns must be one a registry
// and containerd accept: every child with a valid sha256 digest, a
// non-negative size and a manifest media type, each image once, with a
// platform; Raw the encoding of Manifest, and Digest its digest.
func FuzzAssemble(f *testing.F) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	served := &servedManifest{next: reg}
	rt := inProcess{served}
	repo := name.MustParseReference(fuzzSourceTag).Context()
	var descs []v1.Descriptor
	for i, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}, {OS: "linux", Architecture: "arm", Variant: "v7"}} {
		mt := types.DockerManifestSchema2
		if i == 2 {
			mt = types.OCIManifestSchema1
		}
		img := fixedImage(f, p, p.Architecture, mt)
		ref := repo.Tag(p.Architecture)
		if err := remote.Write(ref, img, remote.WithTransport(rt)); err != nil {
			f.Fatal(err)
		}
		d, err := remote.Head(ref, remote.WithTransport(rt))
		if err != nil {
			f.Fatal(err)
		}
		d.Platform = &p
		descs = append(descs, *d)
	}
	seed := func(m v1.IndexManifest) []byte {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	att := v1.Descriptor{
		MediaType: types.OCIManifestSchema1, Size: 100, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)},
		Annotations: map[string]string{AnnotationReferenceType: attestationManifest, AnnotationReferenceDigest: descs[0].Digest.String()},
	}
	noDigest := att
	noDigest.Digest = v1.Hash{}
	nested := descs[1]
	nested.MediaType = types.OCIImageIndex
	for _, s := range []struct {
		raw []byte
		mt  uint8
	}{
		{seed(v1.IndexManifest{SchemaVersion: 2, MediaType: types.DockerManifestList, Manifests: descs[:2]}), 1},
		{seed(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: append(descs[:3:3], att)}), 0},
		{[]byte(strings.Replace(string(seed(v1.IndexManifest{SchemaVersion: 2, Manifests: []v1.Descriptor{descs[0], noDigest}})), `"digest":":",`, "", 1)), 0},
		{seed(v1.IndexManifest{SchemaVersion: 2, Manifests: []v1.Descriptor{descs[0], descs[0]}}), 0},
		{seed(v1.IndexManifest{SchemaVersion: 2, Manifests: []v1.Descriptor{nested}}), 0},
		{[]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":":","size":-1}]}`), 0},
		{[]byte(`{"schemaVersion":2,"manifests":[]}`), 1},
		{[]byte(`{"manifests":null}`), 0},
		{[]byte(`{`), 0},
		{[]byte(`{"schemaVersion":2,"config":{"digest":"sha256:` + strings.Repeat("0", 64) + `"},"layers":[]}`), 2},
	} {
		f.Add(s.raw, s.mt)
	}
	mediaTypes := []types.MediaType{types.OCIImageIndex, types.DockerManifestList, types.OCIManifestSchema1, types.DockerManifestSchema2, "application/json"}
	c := New(WithTransport(rt), WithRetry(1, time.Millisecond))
	target := name.MustParseReference("registry.fuzz/app:merged").(name.Tag)
	src := Source{Ref: name.MustParseReference(fuzzSourceTag)}
	f.Fuzz(func(t *testing.T, raw []byte, mt uint8) {
		served.set(raw, string(mediaTypes[int(mt)%len(mediaTypes)]))
		idx, err := c.Assemble(context.Background(), target, []Source{src})
		if err != nil {
			return
		}
		checkAssembled(t, idx)
	})
}

func checkAssembled(t *testing.T, idx *Index) {
	t.Helper()
	if idx.Manifest == nil || len(idx.Manifest.Manifests) == 0 {
		t.Fatalf("an index with no children: %s", idx.Raw)
	}
	again, err := json.Marshal(idx.Manifest)
	if err != nil || string(again) != string(idx.Raw) {
		t.Fatalf("Raw is not the encoding of Manifest: %v\n%s\n%s", err, idx.Raw, again)
	}
	if d, _, _ := v1.SHA256(strings.NewReader(string(idx.Raw))); d != idx.Digest {
		t.Fatalf("Digest %s, but Raw hashes to %s", idx.Digest, d)
	}
	seen := map[v1.Hash]bool{}
	for i, d := range idx.Manifest.Manifests {
		if d.Digest.Algorithm != "sha256" || len(d.Digest.Hex) != 64 || strings.Trim(d.Digest.Hex, "0123456789abcdef") != "" {
			t.Fatalf("child %d has digest %q: %s", i, d.Digest, idx.Raw)
		}
		if d.Size < 0 || !(d.MediaType.IsImage() || d.MediaType == types.OCIManifestSchema1) {
			t.Fatalf("child %d: size %d, media type %q", i, d.Size, d.MediaType)
		}
		if seen[d.Digest] {
			t.Fatalf("child %d lists %s again: %s", i, d.Digest, idx.Raw)
		}
		seen[d.Digest] = true
		if d.Annotations[AnnotationReferenceType] != attestationManifest && (d.Platform == nil || d.Platform.OS == "" || d.Platform.Architecture == "") {
			t.Fatalf("image child %d has no platform: %s", i, idx.Raw)
		}
	}
}
