package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/mab-build/mab/internal/testenv"
)

var compressionPlatforms = map[string]string{"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm/v7": "armv7l"}

// runsFrom is a later build FROM the image under test: its RUN executes
// the image's own cat and uname, so its layers must have been pulled and
// unpacked on every platform.
const runsFrom = `ARG BASE
FROM ${BASE}
RUN cat /arch.txt > /seen.txt && uname -m >> /seen.txt
`

// TestCompressionOfEveryLayer builds examples/hello for three platforms
// with zstd and with eStargz, base layers recompressed
// (--force-compression), then recompresses the zstd image's layers to
// gzip with Docker media types. Each child's layers must all have the
// requested media type, and each image must run: a later mab build FROM it
// executes its binaries on each platform.
func TestCompressionOfEveryLayer(t *testing.T) {
	e := testenv.Get(t)
	plats := "linux/amd64,linux/arm64,linux/arm/v7"
	hello := filepath.Join(e.Root, "examples", "hello")
	from := t.TempDir()
	if err := os.WriteFile(filepath.Join(from, "Dockerfile"), []byte(runsFrom), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(ref, dir, base string, flags ...string) {
		t.Helper()
		args := append([]string{"build", "--insecure", "--progress", "plain", "--platform", plats, "--build-arg", "BASE=" + base, "-t", ref}, flags...)
		if r := e.Run(t, append(args, dir)...); r.ExitCode != 0 {
			t.Fatalf("mab build %s exited %d:\n%s", strings.Join(flags, " "), r.ExitCode, r.Stderr)
		}
	}
	zstd := uniqueRepo(e, "repro-zstd") + ":1"
	build(zstd, hello, e.Base(), "--compression", "zstd", "--compression-level", "19", "--force-compression")
	assertLayers(t, zstd, types.OCIManifestSchema1, "application/vnd.oci.image.layer.v1.tar+zstd", "")

	estargz := uniqueRepo(e, "repro-estargz") + ":1"
	build(estargz, hello, e.Base(), "--compression", "estargz", "--force-compression")
	assertLayers(t, estargz, types.OCIManifestSchema1, "application/vnd.oci.image.layer.v1.tar+gzip", "containerd.io/snapshot/stargz/toc.digest")

	gzip := uniqueRepo(e, "repro-gzip") + ":1"
	build(gzip, hello, zstd, "--compression", "gzip", "--force-compression", "--oci-mediatypes=false")
	assertLayers(t, gzip, types.DockerManifestSchema2, string(types.DockerLayer), "")

	for _, img := range []string{zstd, estargz, gzip} {
		later := uniqueRepo(e, "repro-from") + ":1"
		build(later, from, img)
		idx, err := remote.Index(mustRef(t, later))
		if err != nil {
			t.Fatal(err)
		}
		for plat, arch := range compressionPlatforms {
			child, err := childImage(idx, plat)
			if err != nil {
				t.Fatalf("FROM %s: %v", img, err)
			}
			if got, want := readFile(t, child, "seen.txt"), arch+"\n"+arch+"\n"; got != want {
				t.Errorf("FROM %s on %s: /seen.txt = %q, want %q", img, plat, got, want)
			}
		}
	}
}

// assertLayers checks that every platform's image of ref is a manifest
// of media type mt whose every layer has media type layer and, when
// annotation is not empty, carries it.
func assertLayers(t *testing.T, ref string, mt types.MediaType, layer, annotation string) {
	t.Helper()
	idx, err := remote.Index(mustRef(t, ref))
	if err != nil {
		t.Fatal(err)
	}
	for plat := range compressionPlatforms {
		img, err := childImage(idx, plat)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != mt {
			t.Errorf("%s %s: manifest %s, want %s", ref, plat, m.MediaType, mt)
		}
		if len(m.Layers) < 2 {
			t.Errorf("%s %s: %d layers, want the base's and the RUN's", ref, plat, len(m.Layers))
		}
		for i, l := range m.Layers {
			if string(l.MediaType) != layer {
				t.Errorf("%s %s: layer %d is %s, want %s", ref, plat, i, l.MediaType, layer)
			}
			if _, ok := l.Annotations[annotation]; annotation != "" && !ok {
				t.Errorf("%s %s: layer %d lacks the annotation %s", ref, plat, i, annotation)
			}
		}
	}
}

// childImage is the image of platform plat (os/arch[/variant]) in idx.
func childImage(idx v1.ImageIndex, plat string) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && strings.TrimSuffix(d.Platform.OS+"/"+d.Platform.Architecture+"/"+d.Platform.Variant, "/") == plat {
			return idx.Image(d.Digest)
		}
	}
	return nil, os.ErrNotExist
}
