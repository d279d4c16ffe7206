package merge

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// testRegistry starts go-containerregistry's in-process registry and
// returns its host:port.
func testRegistry(t testing.TB) string {
	t.Helper()
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// platformImage is a random image whose config declares p.
func platformImage(t *testing.T, p v1.Platform, mt types.MediaType) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant, cfg.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if mt != "" {
		img = mutate.MediaType(img, mt)
		if mt == types.OCIManifestSchema1 {
			img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		}
	}
	return img
}

// push writes img to repo:tag and returns its digest reference.
func push(t *testing.T, repo name.Repository, tag string, img v1.Image) name.Digest {
	t.Helper()
	if err := remote.Write(repo.Tag(tag), img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return repo.Digest(d.String())
}

func repoIn(t testing.TB, host, path string) name.Repository {
	t.Helper()
	r, err := name.NewRepository(host + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
	armv7 = v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
)

func TestMergeTakesPlatformsFromConfigsInOrder(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	var sources []name.Digest
	for i, p := range []v1.Platform{armv7, amd64, arm64} {
		sources = append(sources, push(t, repo, fmt.Sprintf("arch%d", i), platformImage(t, p, "")))
	}
	pub, err := mergeDigests(ctx, repo.Tag("1.4"), sources)
	if err != nil {
		t.Fatal(err)
	}
	if pub.MediaType != types.DockerManifestList {
		t.Errorf("media type = %s, want a Docker manifest list for Docker children", pub.MediaType)
	}
	idx, err := remote.Index(repo.Tag("1.4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("index does not validate: %v", err)
	}
	m, _ := idx.IndexManifest()
	want := []string{"linux/arm/v7", "linux/amd64", "linux/arm64"}
	if len(m.Manifests) != len(want) {
		t.Fatalf("%d children, want %d", len(m.Manifests), len(want))
	}
	for i, d := range m.Manifests {
		if got := FormatPlatform(d.Platform); got != want[i] {
			t.Errorf("child %d platform %s, want %s", i, got, want[i])
		}
		if d.Digest.String() != sources[i].DigestStr() {
			t.Errorf("child %d digest %s, want %s", i, d.Digest, sources[i].DigestStr())
		}
		if d.MediaType != types.DockerManifestSchema2 || d.Size == 0 {
			t.Errorf("child %d descriptor %+v", i, d)
		}
	}
	if got, _ := idx.Digest(); got != pub.Digest {
		t.Errorf("registry serves %s, Merge reported %s", got, pub.Digest)
	}
	if err := Verify(ctx, repo.Tag("1.4"), pub.Digest); err != nil {
		t.Errorf("Verify of a correct index: %v", err)
	}
}

func TestMergeWritesOCIIndexWhenAnyChildIsOCI(t *testing.T) {
	repo := repoIn(t, testRegistry(t), "app")
	sources := []name.Digest{
		push(t, repo, "a", platformImage(t, amd64, "")),
		push(t, repo, "b", platformImage(t, arm64, types.OCIManifestSchema1)),
	}
	pub, err := mergeDigests(context.Background(), repo.Tag("mixed"), sources)
	if err != nil {
		t.Fatal(err)
	}
	if pub.MediaType != types.OCIImageIndex {
		t.Errorf("media type = %s, want an OCI index", pub.MediaType)
	}
}

func TestMergeKeepsOSVersion(t *testing.T) {
	repo := repoIn(t, testRegistry(t), "win")
	win := v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1234"}
	sources := []name.Digest{push(t, repo, "a", platformImage(t, win, ""))}
	pub, err := mergeDigests(context.Background(), repo.Tag("1"), sources)
	if err != nil {
		t.Fatal(err)
	}
	if got := pub.Manifest.Manifests[0].Platform.OSVersion; got != win.OSVersion {
		t.Errorf("os.version = %q, want %q", got, win.OSVersion)
	}
}

func TestMergeRefusesTwoImagesOfOnePlatform(t *testing.T) {
	repo := repoIn(t, testRegistry(t), "app")
	sources := []name.Digest{
		push(t, repo, "a", platformImage(t, arm64, "")),
		push(t, repo, "b", platformImage(t, arm64, "")),
	}
	_, err := mergeDigests(context.Background(), repo.Tag("dup"), sources)
	if err == nil || !strings.Contains(err.Error(), "are both linux/arm64") {
		t.Fatalf("err = %v, want a duplicate platform error", err)
	}
	if _, err := remote.Head(repo.Tag("dup")); err == nil {
		t.Error("the target tag was written although the merge failed")
	}
}

// attested pushes an index like the one BuildKit pushes with provenance
// on: an image and an attestation manifest that refers to it.
func attested(t *testing.T, repo name.Repository, tag string, p v1.Platform) (name.Digest, v1.Hash) {
	t.Helper()
	img := platformImage(t, p, types.OCIManifestSchema1)
	imgDigest, _ := img.Digest()
	att, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Like BuildKit's: an OCI manifest whose config says unknown/unknown.
	att = mutate.ConfigMediaType(mutate.MediaType(att, types.OCIManifestSchema1), types.OCIConfigJSON)
	cfg, err := att.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "unknown", "unknown"
	if att, err = mutate.ConfigFile(att, cfg); err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				AnnotationReferenceType:   attestationManifest,
				AnnotationReferenceDigest: imgDigest.String(),
			},
		}},
	)
	if err := remote.WriteIndex(repo.Tag(tag), idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	return repo.Digest(d.String()), imgDigest
}

func TestMergeFlattensIndexesAndKeepsAttestationsAfterImages(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	a, imgA := attested(t, repo, "amd64", amd64)
	b, imgB := attested(t, repo, "arm64", arm64)
	pub, err := mergeDigests(ctx, repo.Tag("1.4"), []name.Digest{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if pub.MediaType != types.OCIImageIndex {
		t.Errorf("media type = %s", pub.MediaType)
	}
	m := pub.Manifest.Manifests
	if len(m) != 4 {
		t.Fatalf("%d children, want 2 images and 2 attestations", len(m))
	}
	if m[0].Digest != imgA || m[1].Digest != imgB {
		t.Errorf("images first in source order: got %s, %s", m[0].Digest, m[1].Digest)
	}
	for i, d := range m[2:] {
		if d.Annotations[AnnotationReferenceType] != attestationManifest {
			t.Errorf("child %d is not an attestation: %+v", i+2, d)
		}
		want := []v1.Hash{imgA, imgB}[i]
		if d.Annotations[AnnotationReferenceDigest] != want.String() {
			t.Errorf("attestation %d refers to %s, want %s", i, d.Annotations[AnnotationReferenceDigest], want)
		}
	}
	l, err := Inspect(ctx, repo.Tag("1.4"))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Index || len(l.Children) != 4 || !l.Children[2].Attestation || l.Children[2].ReferenceOf != imgA.String() {
		t.Errorf("inspect = %+v", l)
	}
	if err := Verify(ctx, repo.Tag("1.4"), pub.Digest); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestVerifyCatchesChildListedUnderWrongPlatform(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	img := platformImage(t, arm64, "")
	wrong := amd64
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &wrong}})
	if err := remote.WriteIndex(repo.Tag("bad"), idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	err := Verify(ctx, repo.Tag("bad"), d)
	if err == nil || !strings.Contains(err.Error(), "listed as linux/amd64 but its config says linux/arm64") {
		t.Fatalf("err = %v, want a platform mismatch", err)
	}
	other := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	if err := Verify(ctx, repo.Tag("bad"), other); err == nil || !strings.Contains(err.Error(), "registry serves") {
		t.Fatalf("err = %v, want a digest mismatch", err)
	}
}

func TestMergeRefusesIndexOverFourMiB(t *testing.T) {
	repo := repoIn(t, testRegistry(t), "app")
	img := platformImage(t, amd64, types.OCIManifestSchema1)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform:    &amd64,
			Annotations: map[string]string{"huge": strings.Repeat("x", MaxManifestSize)},
		}})
	if err := remote.WriteIndex(repo.Tag("src"), idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	_, err := mergeDigests(context.Background(), repo.Tag("big"), []name.Digest{repo.Digest(d.String())})
	if err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("err = %v, want the size limit", err)
	}
}

func TestMergeNamesMissingSource(t *testing.T) {
	repo := repoIn(t, testRegistry(t), "app")
	missing := repo.Digest("sha256:" + strings.Repeat("a", 64))
	_, err := mergeDigests(context.Background(), repo.Tag("x"), []name.Digest{missing})
	if err == nil || !strings.Contains(err.Error(), missing.String()) {
		t.Fatalf("err = %v, want it to name %s", err, missing)
	}
}

// mergeDigests merges sources given by digest, as mab build does.
func mergeDigests(ctx context.Context, target name.Tag, ds []name.Digest, opts ...Option) (*Published, error) {
	sources := make([]Source, len(ds))
	for i, d := range ds {
		sources[i] = Source{Ref: d}
	}
	return Merge(ctx, target, sources, opts...)
}
