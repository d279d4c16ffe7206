package ocilayout_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/mab-build/mab/ocilayout"
)

// platformImage is a random OCI image whose config declares p.
func platformImage(t *testing.T, p v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var threePlatforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "arm", Variant: "v7"},
}

// multiArch is an index of one image per platform, listed with it.
func multiArch(t *testing.T) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, p := range threePlatforms {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: platformImage(t, p), Descriptor: v1.Descriptor{Platform: &p}})
	}
	return mutate.IndexMediaType(idx, types.OCIImageIndex)
}

// readArchive unpacks the tar at path into a folder and opens it as a
// layout.
func readArchive(t *testing.T, path string) layout.Path {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		b, _ := io.ReadAll(tr)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return layout.Path(dir)
}

// onlyIndex returns the index that index.json lists, checked whole by
// go-containerregistry's validate, and index.json's entry.
func onlyIndex(t *testing.T, p layout.Path) (v1.ImageIndex, v1.Descriptor) {
	t.Helper()
	top, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries, want 1", len(m.Manifests))
	}
	idx, err := top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("the layout's index does not validate: %v", err)
	}
	return idx, m.Manifests[0]
}

func TestSaveKeepsTheRegistrysIndexByteForByte(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	ref, _ := name.ParseReference(u.Host + "/app:1")
	src := multiArch(t)
	if err := remote.WriteIndex(ref, src); err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := desc.ImageIndex()
	dest := filepath.Join(t.TempDir(), "app.tar")
	w, err := ocilayout.Create(ocilayout.Destination{Path: dest, Tar: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	top, err := w.AddIndex(ctx, idx, desc.Manifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if top.Digest != desc.Digest {
		t.Errorf("layout index %s, registry's %s", top.Digest, desc.Digest)
	}
	names, err := ocilayout.Names(u.Host + "/app:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(top, names, nil); err != nil {
		t.Fatal(err)
	}
	got, entry := onlyIndex(t, readArchive(t, dest))
	if d, _ := got.Digest(); d != desc.Digest {
		t.Errorf("archive's index %s, want %s", d, desc.Digest)
	}
	if entry.Annotations[ocilayout.AnnotationRefName] != "1" || entry.Annotations[ocilayout.AnnotationImageName] != u.Host+"/app:1" {
		t.Errorf("index.json names %v", entry.Annotations)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestSaveWithPlatformsWritesANewIndexOfThose(t *testing.T) {
	ctx := context.Background()
	src := multiArch(t)
	raw, _ := src.RawManifest()
	dest := filepath.Join(t.TempDir(), "layout")
	w, err := ocilayout.Create(ocilayout.Destination{Path: dest})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	top, err := w.AddIndex(ctx, src, raw, func(p *v1.Platform) bool { return p != nil && p.Architecture == "arm64" })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(top, nil, nil); err != nil {
		t.Fatal(err)
	}
	got, entry := onlyIndex(t, layout.Path(dest))
	if entry.Annotations != nil {
		t.Errorf("an unnamed image's entry has annotations %v", entry.Annotations)
	}
	m, _ := got.IndexManifest()
	if len(m.Manifests) != 1 || m.Manifests[0].Platform.Architecture != "arm64" {
		t.Fatalf("index lists %+v, want the arm64 image only", m.Manifests)
	}
}

// buildkitArchive is what BuildKit's oci exporter sends for one platform:
// an OCI layout tar whose index.json lists the image, with the entry
// annotations the exporter adds.
func buildkitArchive(t *testing.T, img v1.Image) []byte {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.created": "2026-11-23T00:00:00Z"})); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		b, _ := os.ReadFile(path)
		tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
		return nil
	})
	tw.Close()
	return buf.Bytes()
}

func TestArchivesOfEachPlatformMakeOneIndex(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "app.tar")
	w, err := ocilayout.Create(ocilayout.Destination{Path: dest, Tar: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var c ocilayout.Children
	for _, p := range threePlatforms {
		tops, err := w.AddArchive(bytes.NewReader(buildkitArchive(t, platformImage(t, p))))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range tops {
			if err := w.Flatten(&c, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	top, err := w.Index(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := w.DockerManifestFor(c.Images[0], "app:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(top, nil, dm); err != nil {
		t.Fatal(err)
	}
	lp := readArchive(t, dest)
	idx, _ := onlyIndex(t, lp)
	m, _ := idx.IndexManifest()
	for i, d := range m.Manifests {
		if d.Platform == nil || d.Platform.Architecture != threePlatforms[i].Architecture || d.Platform.Variant != threePlatforms[i].Variant {
			t.Errorf("child %d has platform %+v, want %+v", i, d.Platform, threePlatforms[i])
		}
		if d.Annotations != nil {
			t.Errorf("child %d keeps the exporter's entry annotations %v", i, d.Annotations)
		}
	}
	b, err := os.ReadFile(filepath.Join(string(lp), "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var docker []ocilayout.DockerManifest
	if err := json.Unmarshal(b, &docker); err != nil || len(docker) != 1 || docker[0].RepoTags[0] != "app:1" {
		t.Errorf("manifest.json: %s (%v)", b, err)
	}
	for _, l := range docker[0].Layers {
		if _, err := os.Stat(filepath.Join(string(lp), l)); err != nil {
			t.Errorf("manifest.json names %s: %v", l, err)
		}
	}
}

func TestTheSameLayoutGivesTheSameArchive(t *testing.T) {
	src := multiArch(t)
	raw, _ := src.RawManifest()
	var sums []string
	for range 2 {
		dest := filepath.Join(t.TempDir(), "app.tar")
		w, err := ocilayout.Create(ocilayout.Destination{Path: dest, Tar: true})
		if err != nil {
			t.Fatal(err)
		}
		top, err := w.AddIndex(context.Background(), src, raw, nil)
		if err == nil {
			err = w.Commit(top, nil, nil)
		}
		w.Close()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(dest)
		h, _, _ := v1.SHA256(bytes.NewReader(b))
		sums = append(sums, h.String())
	}
	if sums[0] != sums[1] {
		t.Errorf("two archives of one index differ: %v", sums)
	}
}

func TestDestinationCheck(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "app.tar")
	os.WriteFile(file, []byte("old"), 0o644)
	for _, tc := range []struct {
		d    ocilayout.Destination
		want string
	}{
		{ocilayout.Destination{Path: file, Tar: true}, "exists (--force replaces it)"},
		{ocilayout.Destination{Path: dir, Tar: true, Force: true}, "is a directory"},
		{ocilayout.Destination{Path: file, Force: true}, "is not a directory"},
		{ocilayout.Destination{Path: filepath.Join(dir, "missing", "app.tar"), Tar: true}, "no such file or directory"},
		{ocilayout.Destination{Path: "/proc/mab-test.tar", Tar: true}, "cannot create a file in /proc"},
		{ocilayout.Destination{Path: ""}, "no destination"},
	} {
		err := tc.d.Check()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%+v) = %v, want %q", tc.d, err, tc.want)
		}
	}
	if err := (ocilayout.Destination{Path: file, Tar: true, Force: true}).Check(); err != nil {
		t.Errorf("--force on a file: %v", err)
	}
}

func TestCommitRefusesAFileThatAppearedMeanwhile(t *testing.T) {
	src := multiArch(t)
	raw, _ := src.RawManifest()
	dest := filepath.Join(t.TempDir(), "app.tar")
	w, err := ocilayout.Create(ocilayout.Destination{Path: dest, Tar: true})
	if err != nil {
		t.Fatal(err)
	}
	top, err := w.AddIndex(context.Background(), src, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(dest, []byte("someone else's"), 0o644)
	if err := w.Commit(top, nil, nil); !errors.Is(err, ocilayout.ErrExists) {
		t.Errorf("Commit = %v, want ErrExists", err)
	}
	w.Close()
	if b, _ := os.ReadFile(dest); string(b) != "someone else's" {
		t.Errorf("the other file was replaced")
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestPutBlobRefusesContentOfAnotherDigest(t *testing.T) {
	w, err := ocilayout.Create(ocilayout.Destination{Path: filepath.Join(t.TempDir(), "a.tar"), Tar: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	h, _, _ := v1.SHA256(strings.NewReader("good"))
	if err := w.PutBlob(h, strings.NewReader("evil")); err == nil || !strings.Contains(err.Error(), "its content has digest") {
		t.Errorf("PutBlob = %v", err)
	}
	if w.Has(h) {
		t.Error("a blob that failed its digest was kept")
	}
}
