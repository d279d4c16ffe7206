package e2e

import (
	"archive/tar"
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/mab-build/mab/internal/testenv"
)

// sbomScript is a stand-in for an SBOM generator image, following
// BuildKit's protocol: read $BUILDKIT_SCAN_SOURCE, write in-toto
// statements to $BUILDKIT_SCAN_DESTINATION. It counts the image's files
// into an SPDX document.
const sbomScript = `#!/bin/sh
set -e
n=$(find "$BUILDKIT_SCAN_SOURCE" -type f | wc -l)
printf '%s' '{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document","subject":[],' \
  '"predicate":{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"mab-e2e-sbom files='"$n"'",' \
  '"dataLicense":"CC0-1.0","documentNamespace":"https://example.invalid/mab-e2e",' \
  '"creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: mab-e2e"]},"packages":[]}}' \
  > "$BUILDKIT_SCAN_DESTINATION/sbom.spdx.json"
`

// TestBuildSBOMWithGenerator runs --sbom with a generator image of the
// test's own (no public scanner image can be pulled here) and finds its
// SPDX document in each platform's attestation manifest.
func TestBuildSBOMWithGenerator(t *testing.T) {
	e := testenv.Get(t)
	gen := uniqueRepo(e, "sbom-gen") + ":1"
	pushGenerator(t, e, gen)
	repo := uniqueRepo(e, "sbom")
	r := e.Run(t, "build", "--insecure", "--progress", "plain", "--sbom", "generator="+gen,
		"--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+e.Base(),
		"-t", repo+":1", filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	idx, err := remote.Index(mustRef(t, repo+":1"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	found := 0
	for _, d := range m.Manifests {
		if d.Annotations["vnd.docker.reference.type"] != "attestation-manifest" {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(blobs(t, img), `"name":"mab-e2e-sbom files=`) {
			found++
		}
	}
	if found != 2 {
		t.Errorf("%d of 2 attestation manifests hold the generator's SPDX document", found)
	}
}

// blobs is the content of every layer of img as stored: an attestation
// manifest's layers are in-toto statements, not tar archives.
func blobs(t *testing.T, img v1.Image) string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		sb.Write(b)
	}
	return sb.String()
}

// pushGenerator pushes the SBOM stand-in: the environment's busybox for
// linux/amd64 with sbomScript as its entrypoint.
func pushGenerator(t *testing.T, e testenv.Env, ref string) {
	t.Helper()
	base, err := remote.Image(mustRef(t, e.Base()), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := scriptLayer("bin/scan", sbomScript)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Entrypoint, cfg.Config.Cmd = []string{"/bin/scan"}, nil
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(t, ref), img); err != nil {
		t.Fatal(err)
	}
}

// scriptLayer is a layer holding one executable file.
func scriptLayer(name, content string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(content))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(content)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}
