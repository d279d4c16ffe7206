package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/mab-build/mab/internal/testenv"
	"github.com/mab-build/mab/internal/testenv/faultproxy"
)

// Artifact types of the referrers the tests attach, as cosign and an SBOM
// tool would.
const (
	sigArtifactType  = "application/vnd.dev.cosign.artifact.sig.v1+json"
	sbomArtifactType = "application/spdx+json"
)

// attached is an image built with attestations and the referrers a test
// attached to it.
type attached struct {
	ref       string  // REPO:TAG
	digest    v1.Hash // the index
	children  []v1.Hash
	sig, sbom v1.Hash // the index's signature, the amd64 image's SBOM
}

// buildAttached builds examples/hello for three platforms with provenance
// attestations into repo:1, and attaches a fake signature to the index
// and an SBOM to its amd64 image, as cosign attach / oras attach would:
// OCI artifact manifests whose subject is what they describe, written with
// go-containerregistry (which keeps the referrers tag up to date on a
// registry without the referrers API).
func buildAttached(t testing.TB, e testenv.Env, repo string) attached {
	t.Helper()
	r := e.Run(t, "build", "--insecure", "--progress", "plain", "--provenance", "mode=min",
		"--platform", "linux/amd64,linux/arm64,linux/arm/v7", "--build-arg", "BASE="+e.Base(),
		"-t", repo+":1", filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("mab build exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	ref, err := name.ParseReference(repo + ":1")
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	a := attached{ref: repo + ":1", digest: desc.Digest}
	var amd64 v1.Descriptor
	for _, d := range m.Manifests {
		a.children = append(a.children, d.Digest)
		if d.Platform != nil && d.Platform.Architecture == "amd64" {
			amd64 = d
		}
	}
	if len(a.children) != 6 {
		t.Fatalf("the index lists %d manifests, want 3 images and 3 attestation manifests", len(a.children))
	}
	a.sig = attach(t, ref.Context(), v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}, sigArtifactType, "fake signature of the index")
	a.sbom = attach(t, ref.Context(), v1.Descriptor{MediaType: amd64.MediaType, Digest: amd64.Digest, Size: amd64.Size}, sbomArtifactType, `{"spdxVersion":"SPDX-2.3","name":"hello amd64"}`)
	return a
}

// attach writes an artifact manifest with subject sub into repo and
// returns its digest.
func attach(t testing.TB, repo name.Repository, sub v1.Descriptor, artifactType, payload string) v1.Hash {
	t.Helper()
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.MediaType(artifactType))
	img, err := mutate.AppendLayers(img, static.NewLayer([]byte(payload), "application/vnd.example.payload+json"))
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Subject(img, sub).(v1.Image)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Digest(d.String()), img); err != nil {
		t.Fatalf("attaching %s to %s: %v", artifactType, sub.Digest, err)
	}
	return d
}

// TestCopyPromotesWithReferrers copies a 3-platform image with its
// attestations and two attached referrers to another repository with
// `mab copy --referrers`: the same digest and bytes, every child there,
// and the referrers listed there by regctl artifact list.
func TestCopyPromotesWithReferrers(t *testing.T) {
	e := testenv.Get(t)
	a := buildAttached(t, e, uniqueRepo(e, "repro-copy-src"))
	dst := uniqueRepo(e, "repro-copy-prod")
	r := e.Run(t, "copy", "--referrers", a.ref, dst+":1.0")
	if r.ExitCode != 0 {
		t.Fatalf("mab copy exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	if got := strings.TrimSpace(r.Stdout); got != a.digest.String() {
		t.Errorf("stdout %q, want the index digest %s", got, a.digest)
	}
	if !strings.Contains(r.Stderr, "7 manifests, 2 referrers") {
		t.Errorf("summary %q, want 7 manifests and 2 referrers", r.Stderr)
	}
	srcRaw := runTool(t, testenv.Crane(t), "manifest", a.ref)
	if dstRaw := runTool(t, testenv.Crane(t), "manifest", dst+":1.0"); dstRaw != srcRaw {
		t.Errorf("the copy's index differs from the source's:\n%s\n%s", dstRaw, srcRaw)
	}
	for _, c := range a.children {
		if _, err := remote.Get(mustRef(t, dst+"@"+c.String())); err != nil {
			t.Errorf("child %s missing from the copy: %v", c, err)
		}
	}
	// The attestation manifests' blobs too: a full validation of the copy.
	if r := e.Run(t, "inspect", "--verify", dst+":1.0"); r.ExitCode != 0 {
		t.Errorf("mab inspect --verify of the copy exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	for sub, want := range map[v1.Hash]v1.Hash{a.digest: a.sig, a.children[0]: a.sbom} {
		list := regctl(t, e, "artifact", "list", "--format", "{{jsonPretty .}}", dst+"@"+sub.String())
		if !strings.Contains(list, want.String()) {
			t.Errorf("regctl artifact list %s@%s does not list %s:\n%s", dst, sub, want, list)
		}
	}
	// The referrers' own content came along, byte for byte.
	if got, want := runTool(t, testenv.Crane(t), "manifest", dst+"@"+a.sbom.String()), runTool(t, testenv.Crane(t), "manifest", srcRepoOf(a)+"@"+a.sbom.String()); got != want {
		t.Errorf("the SBOM's manifest differs in the copy")
	}

	// mab merge --referrers keeps the SBOM of the amd64 image it copies
	// into another repository.
	srcRepo := srcRepoOf(a)
	merged := uniqueRepo(e, "repro-copy-merged")
	if r := e.Run(t, "merge", "--referrers", "-t", merged+":1", srcRepo+"@"+a.children[0].String()); r.ExitCode != 0 {
		t.Fatalf("mab merge --referrers exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	if list := regctl(t, e, "artifact", "list", "--format", "{{jsonPretty .}}", merged+"@"+a.children[0].String()); !strings.Contains(list, a.sbom.String()) {
		t.Errorf("after mab merge --referrers, %s@%s does not list the SBOM %s:\n%s", merged, a.children[0], a.sbom, list)
	}

	// Onto itself: refused, in one line.
	assertRefused(t, e.Run(t, "copy", "--referrers", a.ref, a.ref), "onto itself")
}

// TestCopyRefusesAnUnreadableReferrer copies through a proxy that cannot
// serve the index's signature: mab copy fails in one line naming it, and
// the target tag is not written.
func TestCopyRefusesAnUnreadableReferrer(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "repro-copy-broken")
	a := buildAttached(t, e, repo)
	px := faultproxy.New("http://" + e.Registry)
	defer px.Close()
	px.Add(faultproxy.Rule{Method: http.MethodGet, Path: "/manifests/" + a.sig.String() + "$", Fault: faultproxy.Status(http.StatusNotFound)})
	srcPath := strings.TrimPrefix(repo, e.Registry)
	dst := uniqueRepo(e, "repro-copy-none")
	r := e.Run(t, "copy", "--referrers", px.Host()+srcPath+":1", px.Host()+strings.TrimPrefix(dst, e.Registry)+":1")
	assertRefused(t, r, "copying referrer "+a.sig.String())
	assertTagMissing(t, dst+":1")
}

// srcRepoOf is the repository of a's tag.
func srcRepoOf(a attached) string { return a.ref[:strings.LastIndex(a.ref, ":")] }
