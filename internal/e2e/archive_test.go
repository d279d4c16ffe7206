package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/mab-build/mab/internal/testenv"
)

// threePlatforms are the platforms the archive tests build.
const threePlatforms = "linux/amd64,linux/arm64,linux/arm/v7"

// archiveIndex opens the OCI layout folder dir (or the unpacked archive)
// and returns the digest and platforms of the index its index.json lists,
// after go-containerregistry validated the whole index, and index.json's
// annotations of it.
func archiveIndex(t *testing.T, dir string) (digest string, plats []string, names map[string]string) {
	t.Helper()
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := top.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("index.json: %v, %d entries, want 1", err, len(m.Manifests))
	}
	idx, err := top.ImageIndex(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("the index in %s does not validate: %v", dir, err)
	}
	im, _ := idx.IndexManifest()
	for _, d := range im.Manifests {
		p := d.Platform.OS + "/" + d.Platform.Architecture
		if d.Platform.Variant != "" {
			p += "/" + d.Platform.Variant
		}
		plats = append(plats, p)
	}
	return m.Manifests[0].Digest.String(), plats, m.Manifests[0].Annotations
}

// untar unpacks the archive into a new folder.
func untar(t *testing.T, e testenv.Env, archive string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := e.Command(t, "tar", "-xf", archive, "-C", dir); err != nil {
		t.Fatalf("tar -xf %s: %v\n%s", archive, err, out)
	}
	return dir
}

// assertNothingLeft fails when dir holds a staging folder or temporary
// file of mab's (".NAME.mab-*", ".NAME.*.tmp").
func assertNothingLeft(t *testing.T, dir string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("left behind in %s: %v", dir, left)
	}
}

func TestOutputArchiveOfThreePlatformsPushesNothingAndIsReadEverywhere(t *testing.T) {
	e := testenv.Get(t)
	sock := e.ContainerdSocket(t)
	repo := uniqueRepo(e, "archive-out")
	dir := t.TempDir()
	archive, meta := filepath.Join(dir, "app.tar"), filepath.Join(dir, "build.json")
	r := e.Run(t, "build", "--progress", "plain", "--platform", threePlatforms, "--build-arg", "BASE="+e.Base(),
		"--output", "type=oci,dest="+archive, "-t", repo+":1", "--metadata-file", meta, filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("mab build --output exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	digest := strings.TrimSpace(r.Stdout)
	if !strings.Contains(r.Stderr, "wrote OCI archive "+archive+": index "+digest+" (3 platforms)") {
		t.Errorf("the summary does not name the file and its index:\n%s", r.Stderr)
	}
	assertNothingLeft(t, dir)

	// Nothing reached the registry: -t only names the image inside.
	if tags, err := remote.List(mustRef(t, repo+":1").Context()); err == nil {
		t.Errorf("the registry has %s with tags %v: --output pushed", repo, tags)
	}

	got, plats, names := archiveIndex(t, untar(t, e, archive))
	if got != digest || strings.Join(plats, ",") != threePlatforms {
		t.Errorf("archive's index %s of %v, want %s of %s", got, plats, digest, threePlatforms)
	}
	if names["io.containerd.image.name"] != repo+":1" || names["org.opencontainers.image.ref.name"] != "1" {
		t.Errorf("index.json names the image %v", names)
	}
	m := readMetadata(t, meta)
	if m.Stage != "saved" || m.Output == nil || m.Output.Digest != digest || m.Output.Dest != archive || m.ImageDigest != digest {
		t.Errorf("metadata: stage %s, output %+v, containerimage.digest %s; want the file and %s", m.Stage, m.Output, m.ImageDigest, digest)
	}

	// skopeo takes it into a registry whole, and mab inspect reads it there.
	copyRepo := uniqueRepo(e, "archive-skopeo")
	if out, err := e.Command(t, "skopeo", "copy", "--all", "--dest-tls-verify=false", "oci-archive:"+archive, "docker://"+copyRepo+":1"); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
	ins := e.Run(t, "inspect", "--verify", copyRepo+":1")
	if ins.ExitCode != 0 || !strings.Contains(ins.Stdout, digest) {
		t.Fatalf("mab inspect --verify of skopeo's copy exited %d, want %s:\n%s%s", ins.ExitCode, digest, ins.Stdout, ins.Stderr)
	}
	for _, p := range strings.Split(threePlatforms, ",") {
		if !strings.Contains(ins.Stdout, p) {
			t.Errorf("skopeo's copy lacks %s:\n%s", p, ins.Stdout)
		}
	}

	// containerd imports every platform under the name.
	ns := filepath.Base(repo)
	ctr := func(args ...string) string {
		t.Helper()
		out, err := e.Command(t, "ctr", append([]string{"--address", sock, "--namespace", ns}, args...)...)
		if err != nil {
			t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	ctr("images", "import", "--all-platforms", archive)
	t.Cleanup(func() { e.Command(t, "ctr", "--address", sock, "--namespace", ns, "images", "rm", repo+":1") })
	ls := ctr("images", "ls")
	if !strings.Contains(ls, repo+":1") || !strings.Contains(ls, digest) || !strings.Contains(ls, "linux/amd64,linux/arm/v7,linux/arm64") {
		t.Errorf("ctr images ls after the import:\n%s", ls)
	}

	// docker load: the environment's dockerd (Debian's 20.10) has the
	// classic store and reads no OCI layout; the archive's manifest.json
	// gives it the host's platform.
	out, err := e.Command(t, "docker", "load", "-i", archive)
	if err != nil || !strings.Contains(out, "Loaded image: "+repo+":1") {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	t.Cleanup(func() { e.Command(t, "docker", "rmi", repo+":1") })
	if out, err := e.Command(t, "docker", "run", "--rm", repo+":1"); err != nil || strings.TrimSpace(out) != "x86_64" {
		t.Errorf("docker run of the loaded image: %v, %q, want x86_64", err, out)
	}
}

func TestOutputLayoutFolderWithoutATag(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	dest := filepath.Join(dir, "layout")
	build := func(extra ...string) testenv.Result {
		args := []string{"build", "--platform", threePlatforms, "--build-arg", "BASE=" + e.Base(), "--output", "type=oci,dest=" + dest + ",tar=false"}
		return e.Run(t, append(append(args, extra...), filepath.Join(e.Root, "examples", "hello"))...)
	}
	r := build()
	if r.ExitCode != 0 {
		t.Fatalf("mab build --output tar=false exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	digest := strings.TrimSpace(r.Stdout)
	got, plats, names := archiveIndex(t, dest)
	if got != digest || strings.Join(plats, ",") != threePlatforms || names != nil {
		t.Errorf("layout's index %s of %v named %v, want %s of %s, unnamed", got, plats, names, digest, threePlatforms)
	}
	// skopeo reads the folder too.
	copyRepo := uniqueRepo(e, "archive-layout")
	if out, err := e.Command(t, "skopeo", "copy", "--all", "--dest-tls-verify=false", "oci:"+dest, "docker://"+copyRepo+":1"); err != nil {
		t.Fatalf("skopeo copy oci:%s: %v\n%s", dest, err, out)
	}
	if desc, err := remote.Head(mustRef(t, copyRepo+":1")); err != nil || desc.Digest.String() != digest {
		t.Errorf("skopeo's copy: %v %v, want %s", desc, err, digest)
	}

	// Again: refused without --force, the folder untouched; replaced with it.
	marker := filepath.Join(dest, "marker")
	os.WriteFile(marker, []byte("x"), 0o644)
	assertRefused(t, build(), "exists (--force replaces it)")
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("a refused build changed the folder: %v", err)
	}
	if r := build("--force"); r.ExitCode != 0 {
		t.Fatalf("--force exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("--force kept the old folder's files")
	}
	archiveIndex(t, dest)
	assertNothingLeft(t, dir)
}

func TestOutputWritesNothingWhenAPlatformFails(t *testing.T) {
	e := testenv.Get(t)
	ctx := t.TempDir()
	writeDockerfile(t, ctx, "FROM "+e.Base()+"\nRUN [ \"$(uname -m)\" != aarch64 ]\n")
	dir := t.TempDir()
	archive := filepath.Join(dir, "app.tar")
	r := e.Run(t, "build", "--progress", "plain", "--platform", threePlatforms, "--output", "type=oci,dest="+archive, ctx)
	if r.ExitCode != 1 || !strings.Contains(testenv.LastLine(r.Stderr), "1 of 3 platforms failed, nothing written to "+archive) {
		t.Fatalf("exit %d, want 1 naming the failure and the file:\n%s", r.ExitCode, r.Stderr)
	}
	if _, err := os.Stat(archive); err == nil {
		t.Error("an archive was written after a failed platform")
	}
	assertNothingLeft(t, dir)
}

func TestOutputBadInputIsRefusedBeforeBuilding(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	existing := filepath.Join(dir, "old.tar")
	os.WriteFile(existing, []byte("old"), 0o644)
	hello := filepath.Join(e.Root, "examples", "hello")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"existing file", []string{"--output", "type=oci,dest=" + existing}, "exists (--force replaces it)"},
		{"unwritable folder", []string{"--output", "type=oci,dest=/proc/app.tar"}, "cannot create a file in /proc"},
		{"missing folder", []string{"--output", "type=oci,dest=" + filepath.Join(dir, "no", "app.tar")}, "no such file or directory"},
		{"unknown type", []string{"--output", "type=local,dest=" + dir}, `unknown type "local"`},
		{"unknown key", []string{"--output", "type=oci,dest=x.tar,oci-mediatypes=true"}, `unknown key "oci-mediatypes"`},
		{"push by digest", []string{"--output", "type=oci,dest=" + filepath.Join(dir, "a.tar"), "--push-by-digest"}, "--output pushes nothing"},
		{"no merge", []string{"--output", "type=oci,dest=" + filepath.Join(dir, "a.tar"), "--no-merge"}, "--output pushes nothing"},
		{"the Docker daemon's builder", []string{"--builder", "docker", "--output", "type=oci,dest=" + filepath.Join(dir, "a.tar")}, "keeps images in the daemon"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.Run(t, append(append([]string{"build", "--platform", threePlatforms}, c.args...), hello)...)
			assertRefused(t, r, c.want)
			if strings.Contains(r.Stderr, "[linux/") {
				t.Error("something was built before the refusal")
			}
			if b, _ := os.ReadFile(existing); string(b) != "old" {
				t.Error("the existing file was changed")
			}
			assertNothingLeft(t, dir)
		})
	}
}

func TestSaveWholeIndexOrSomePlatforms(t *testing.T) {
	e := testenv.Get(t)
	sock := e.ContainerdSocket(t)
	dir := t.TempDir()
	src, err := remote.Head(mustRef(t, e.Base()))
	if err != nil {
		t.Fatal(err)
	}

	// The whole index, byte for byte: skopeo puts back the same digest.
	whole := filepath.Join(dir, "busybox.tar")
	r := e.Run(t, "save", e.Base(), whole)
	if r.ExitCode != 0 || strings.TrimSpace(r.Stdout) != src.Digest.String() || !strings.Contains(r.Stderr, "byte for byte") {
		t.Fatalf("mab save exited %d, stdout %q, want %s:\n%s", r.ExitCode, r.Stdout, src.Digest, r.Stderr)
	}
	copyRepo := uniqueRepo(e, "archive-save")
	if out, err := e.Command(t, "skopeo", "copy", "--all", "--preserve-digests", "--dest-tls-verify=false", "oci-archive:"+whole, "docker://"+copyRepo+":1"); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
	if d, err := remote.Head(mustRef(t, copyRepo+":1")); err != nil || d.Digest != src.Digest {
		t.Errorf("skopeo's copy of the saved archive: %v %v, want %s", d, err, src.Digest)
	}

	// Some platforms: a new index of those, which containerd imports.
	some := filepath.Join(dir, "busybox-arm.tar")
	r = e.Run(t, "save", "--platform", "linux/arm64,linux/arm/v7", e.Base(), some)
	if r.ExitCode != 0 || !strings.Contains(r.Stderr, "a new index of linux/arm64, linux/arm/v7 from "+src.Digest.String()) {
		t.Fatalf("mab save --platform exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	got, plats, _ := archiveIndex(t, untar(t, e, some))
	// The seeded arm64 image's config says variant v8: the new index lists
	// what each config declares.
	if got != strings.TrimSpace(r.Stdout) || len(plats) != 2 || !strings.HasPrefix(plats[0], "linux/arm64") || plats[1] != "linux/arm/v7" {
		t.Errorf("the archive's index %s lists %v", got, plats)
	}
	ns := filepath.Base(copyRepo)
	// It has no image of the host's platform, which ctr would unpack.
	if out, err := e.Command(t, "ctr", "--address", sock, "--namespace", ns, "images", "import", "--all-platforms", "--no-unpack", some); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		e.Command(t, "ctr", "--address", sock, "--namespace", ns, "images", "rm", "docker.io/library/busybox:latest", e.Base())
	})
	if out, _ := e.Command(t, "ctr", "--address", sock, "--namespace", ns, "images", "ls"); !strings.Contains(out, got) || !strings.Contains(out, "linux/arm/v7,linux/arm64") {
		t.Errorf("ctr images ls:\n%s", out)
	}

	// Bad input: one line each, nothing written.
	assertRefused(t, e.Run(t, "save", e.Base(), whole), "exists (--force replaces it)")
	assertRefused(t, e.Run(t, "save", "--platform", "linux/s390x", e.Base(), filepath.Join(dir, "s390x.tar")), "has no linux/s390x image")
	assertRefused(t, e.Run(t, "save", e.Registry+"/archive-missing:1", filepath.Join(dir, "missing.tar")), "archive-missing")
	for _, f := range []string{"s390x.tar", "missing.tar"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s was written", f)
		}
	}
	assertNothingLeft(t, dir)
}

func TestOutputKeepsAttestationsBesideTheirImages(t *testing.T) {
	e := testenv.Get(t)
	sock := e.ContainerdSocket(t)
	archive := filepath.Join(t.TempDir(), "app.tar")
	r := e.Run(t, "build", "--progress", "quiet", "--provenance", "true", "--platform", "linux/amd64,linux/arm64",
		"--build-arg", "BASE="+e.Base(), "--output", "type=oci,dest="+archive, "-t", "archive-prov:1", filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	dir := untar(t, e, archive)
	_, plats, _ := archiveIndex(t, dir)
	top, _ := layout.ImageIndexFromPath(dir)
	m, _ := top.IndexManifest()
	idx, _ := top.ImageIndex(m.Manifests[0].Digest)
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 4 {
		t.Fatalf("the index lists %d manifests (%v), want two images and their two attestations", len(im.Manifests), plats)
	}
	for i, att := range im.Manifests[2:] {
		if att.Annotations["vnd.docker.reference.type"] != "attestation-manifest" || att.Annotations["vnd.docker.reference.digest"] != im.Manifests[i].Digest.String() {
			t.Errorf("entry %d is %v, want the attestation of %s", i+2, att.Annotations, im.Manifests[i].Digest)
		}
	}
	ns := "archive-prov-" + filepath.Base(dir)
	if out, err := e.Command(t, "ctr", "--address", sock, "--namespace", ns, "images", "import", "--all-platforms", archive); err != nil {
		t.Errorf("ctr images import --all-platforms of an index with attestations: %v\n%s", err, out)
	}
	e.Command(t, "ctr", "--address", sock, "--namespace", ns, "images", "rm", "docker.io/library/archive-prov:1")
}
