package merge

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// artifact is an OCI artifact manifest (a signature, an SBOM) whose
// subject is sub.
func artifact(t *testing.T, sub v1.Descriptor, artifactType, content string) v1.Image {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.MediaType(artifactType))
	img, err := mutate.AppendLayers(img, static.NewLayer([]byte(content), "application/vnd.example.payload+json"))
	if err != nil {
		t.Fatal(err)
	}
	return mutate.Subject(img, sub).(v1.Image)
}

// descriptorOf is the descriptor a referrer names its subject with.
func descriptorOf(t *testing.T, m interface {
	Digest() (v1.Hash, error)
	MediaType() (types.MediaType, error)
	RawManifest() ([]byte, error)
}) v1.Descriptor {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := m.MediaType()
	raw, _ := m.RawManifest()
	return v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}
}

// signedIndex pushes to repo:1 an OCI index of two images, a signature
// of the index, an SBOM of the amd64 image and a signature of that SBOM,
// and returns the index and the digests of the three referrers.
func signedIndex(t *testing.T, repo name.Repository) (v1.ImageIndex, []v1.Hash) {
	t.Helper()
	amd := fixedImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, "amd64", types.OCIManifestSchema1)
	arm := fixedImage(t, v1.Platform{OS: "linux", Architecture: "arm64"}, "arm64", types.OCIManifestSchema1)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	if err := remote.WriteIndex(repo.Tag("1"), idx); err != nil {
		t.Fatal(err)
	}
	sig := artifact(t, descriptorOf(t, idx), "application/vnd.dev.cosign.artifact.sig.v1+json", "signature of the index")
	sbom := artifact(t, descriptorOf(t, amd), "application/spdx+json", `{"spdxVersion":"SPDX-2.3"}`)
	sbomSig := artifact(t, descriptorOf(t, sbom), "application/vnd.dev.cosign.artifact.sig.v1+json", "signature of the SBOM")
	var refs []v1.Hash
	for _, a := range []v1.Image{sig, sbom, sbomSig} {
		d, _ := a.Digest()
		if err := remote.Write(repo.Digest(d.String()), a); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, d)
	}
	return idx, refs
}

// referrerDigests lists the referrers of d as the registry serves them.
func referrerDigests(t *testing.T, d name.Digest) []v1.Hash {
	t.Helper()
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, r := range m.Manifests {
		out = append(out, r.Digest)
	}
	return out
}

func TestCopyKeepsTheDigestAndEveryReferrer(t *testing.T) {
	for _, api := range []bool{true, false} {
		name := "referrers tag"
		if api {
			name = "referrers API"
		}
		t.Run(name, func(t *testing.T) {
			s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(api)))
			t.Cleanup(s.Close)
			host := strings.TrimPrefix(s.URL, "http://")
			src, dst := mustRepo(t, host+"/staging/app"), mustRepo(t, host+"/prod/app")
			idx, refs := signedIndex(t, src)
			res, err := New().Copy(context.Background(), src.Tag("1"), dst.Tag("1.0"), WithReferrers(true))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := idx.Digest()
			wantRaw, _ := idx.RawManifest()
			got, err := remote.Get(dst.Tag("1.0"))
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != want || string(got.Manifest) != string(wantRaw) || res.Digest != want {
				t.Errorf("copy serves %s (result %s), want %s byte for byte", got.Digest, res.Digest, want)
			}
			if res.Manifests != 3 || res.Referrers != 3 {
				t.Errorf("copied %d manifests and %d referrers, want 3 and 3", res.Manifests, res.Referrers)
			}
			amd := mustManifest(t, idx).Manifests[0].Digest
			for sub, ref := range map[v1.Hash]v1.Hash{want: refs[0], amd: refs[1], refs[1]: refs[2]} {
				if got := referrerDigests(t, dst.Digest(sub.String())); len(got) != 1 || got[0] != ref {
					t.Errorf("referrers of %s in the target: %v, want [%s]", sub, got, ref)
				}
			}
		})
	}
}

func TestCopyWithoutReferrersCopiesNone(t *testing.T) {
	host := wrappedRegistry(t, func(h http.Handler) http.Handler { return h })
	src, dst := mustRepo(t, host+"/staging/app"), mustRepo(t, host+"/prod/app")
	idx, _ := signedIndex(t, src)
	if _, err := New().Copy(context.Background(), src.Tag("1"), dst.Tag("1")); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	if got := referrerDigests(t, dst.Digest(d.String())); len(got) != 0 {
		t.Errorf("referrers copied without WithReferrers: %v", got)
	}
}

func TestCopyOntoItselfIsRefused(t *testing.T) {
	host := wrappedRegistry(t, func(h http.Handler) http.Handler { return h })
	repo := mustRepo(t, host+"/app")
	idx, _ := signedIndex(t, repo)
	d, _ := idx.Digest()
	for _, c := range []struct{ src, dst name.Reference }{
		{repo.Tag("1"), repo.Tag("1")},
		{repo.Tag("1"), repo.Digest(d.String())},
		{repo.Digest(d.String()), repo.Digest(d.String())},
	} {
		if _, err := New().Copy(context.Background(), c.src, c.dst); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "onto itself") {
			t.Errorf("copy %s → %s: %v, want a refusal", c.src, c.dst, err)
		}
	}
	if _, err := New().Copy(context.Background(), repo.Tag("1"), repo.Tag("stable")); err != nil {
		t.Errorf("another tag of the same repository: %v", err)
	}
}

func TestCopyOfABrokenReferrerWritesNoTag(t *testing.T) {
	var broken string
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if broken != "" && strings.HasPrefix(r.URL.Path, "/v2/staging/app/manifests/"+broken) {
				http.Error(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"gone"}]}`, http.StatusNotFound)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	src, dst := mustRepo(t, host+"/staging/app"), mustRepo(t, host+"/prod/app")
	_, refs := signedIndex(t, src)
	broken = refs[2].String()
	_, err := New(fast).Copy(context.Background(), src.Tag("1"), dst.Tag("1"), WithReferrers(true))
	if err == nil || !strings.Contains(err.Error(), "copying referrer "+refs[2].String()) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v, want one line naming the referrer", err)
	}
	if _, err := remote.Head(dst.Tag("1")); err == nil {
		t.Error("the target's tag was written although a referrer could not be read")
	}
}

func TestCopyToKeepsReferrersOfTheChildren(t *testing.T) {
	host := wrappedRegistry(t, func(h http.Handler) http.Handler { return h })
	src, dst := mustRepo(t, host+"/staging/app"), mustRepo(t, host+"/prod/app")
	idx, refs := signedIndex(t, src)
	m := mustManifest(t, idx)
	sources := []Source{{Ref: src.Digest(m.Manifests[0].Digest.String())}, {Ref: src.Digest(m.Manifests[1].Digest.String())}}
	c := New(WithReferrers(true))
	assembled, err := c.Assemble(context.Background(), src.Tag("merged"), sources)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.CopyTo(context.Background(), assembled, dst); err != nil || n != 2 {
		t.Fatalf("CopyTo: %d, %v", n, err)
	}
	if got := referrerDigests(t, dst.Digest(m.Manifests[0].Digest.String())); len(got) != 1 || got[0] != refs[1] {
		t.Errorf("the SBOM of the amd64 image in the other repository: %v, want [%s]", got, refs[1])
	}
	if got := referrerDigests(t, dst.Digest(refs[1].String())); len(got) != 1 || got[0] != refs[2] {
		t.Errorf("the signature of the SBOM in the other repository: %v, want [%s]", got, refs[2])
	}
}

func mustRepo(t *testing.T, s string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustManifest(t *testing.T, idx v1.ImageIndex) *v1.IndexManifest {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCopyKeepsCosignTags(t *testing.T) {
	host := wrappedRegistry(t, func(h http.Handler) http.Handler { return h })
	src, dst := mustRepo(t, host+"/staging/app"), mustRepo(t, host+"/prod/app")
	idx, _ := signedIndex(t, src)
	d, _ := idx.Digest()
	// cosign without OCI 1.1 referrers: a signature manifest under the
	// tag sha256-<hex>.sig, no subject.
	sig := fixedImage(t, v1.Platform{OS: "linux", Architecture: "amd64"}, "cosign signature", types.OCIManifestSchema1)
	tag := "sha256-" + d.Hex + ".sig"
	if err := remote.Write(src.Tag(tag), sig); err != nil {
		t.Fatal(err)
	}
	res, err := New().Copy(context.Background(), src.Tag("1"), dst.Tag("1"), WithReferrers(true))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := sig.Digest()
	if got, err := remote.Head(dst.Tag(tag)); err != nil || got.Digest != want {
		t.Errorf("%s in the target: %v, %v; want %s", tag, got, err, want)
	}
	if res.Referrers != 4 {
		t.Errorf("copied %d referrers, want the 3 OCI referrers and cosign's signature", res.Referrers)
	}
}
