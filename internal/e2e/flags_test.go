package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/internal/testenv"
)

const flagsDockerfile = `ARG BASE
FROM ${BASE} AS base
ARG GREETING
RUN echo "$GREETING" > /greeting.txt
RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /secret-len.txt

FROM base AS wanted
RUN echo wanted > /stage.txt

FROM base AS last
RUN echo last > /stage.txt
`

// TestBuildFlagsReachBuildKit checks each flag in the image it produced:
// build-arg, target, label, annotation, secret (readable in RUN, absent
// from the image and the log) and the metadata file.
func TestBuildFlagsReachBuildKit(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	writeDockerfile(t, dir, flagsDockerfile)
	secret := "s3cr3t-" + time.Now().Format("150405.000000000")
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(t.TempDir(), "meta.json")
	repo := uniqueRepo(e, "flags")
	r := e.Run(t, "build", "--insecure", "--progress", "plain",
		"--platform", "linux/amd64,linux/arm64",
		"--build-arg", "BASE="+e.Base(), "--build-arg", "GREETING=hello-flags",
		"--target", "wanted",
		"--label", "org.example.team=edge",
		"--annotation", "org.opencontainers.image.description=mab e2e",
		"--secret", "id=token,src="+secretFile,
		"--metadata-file", meta,
		"-t", repo+":1", dir)
	if r.ExitCode != 0 {
		t.Fatalf("mab build exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	if strings.Contains(r.Stderr, secret) {
		t.Error("the secret appears in mab's output")
	}
	idx, err := remote.Index(mustRef(t, repo+":1"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		plat := d.Platform.Architecture
		if got := readFile(t, img, "greeting.txt"); got != "hello-flags\n" {
			t.Errorf("%s: --build-arg: /greeting.txt = %q", plat, got)
		}
		if got := readFile(t, img, "stage.txt"); got != "wanted\n" {
			t.Errorf("%s: --target: /stage.txt = %q, want the stage named by --target", plat, got)
		}
		if got, want := strings.TrimSpace(readFile(t, img, "secret-len.txt")), strconv.Itoa(len(secret)); got != want {
			t.Errorf("%s: --secret: RUN read %s bytes of the secret, want %s", plat, got, want)
		}
		if files := grepImage(t, img, secret); len(files) > 0 {
			t.Errorf("%s: the secret is in the image, in %v", plat, files)
		}
		cfg, _ := img.ConfigFile()
		if cfg.Config.Labels["org.example.team"] != "edge" {
			t.Errorf("%s: --label: labels = %v", plat, cfg.Config.Labels)
		}
		mf, _ := img.Manifest()
		if mf.Annotations["org.opencontainers.image.description"] != "mab e2e" {
			t.Errorf("%s: --annotation: manifest annotations = %v", plat, mf.Annotations)
		}
	}

	var md pipeline.Metadata
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatalf("--metadata-file is not JSON: %v", err)
	}
	if md.Digest != strings.TrimSpace(r.Stdout) || md.Final != repo+":1" || len(md.Platforms) != 2 {
		t.Fatalf("metadata = %+v", md)
	}
	if md.Platforms[0].Emulated || !md.Platforms[1].Emulated {
		t.Errorf("metadata says amd64 emulated %v, arm64 emulated %v", md.Platforms[0].Emulated, md.Platforms[1].Emulated)
	}
	for _, p := range md.Platforms {
		if p.Digest == "" || p.Seconds <= 0 || !strings.HasSuffix(p.Tag, "-"+strings.ReplaceAll(strings.TrimPrefix(p.Platform, "linux/"), "/", "")) {
			t.Errorf("metadata platform = %+v", p)
		}
	}
}

// TestBuildRegistryCachePerArch exports a cache per architecture from one
// builder and imports it on another that never ran the build.
func TestBuildRegistryCachePerArch(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	marker := time.Now().Format("150405.000000000")
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nRUN echo "+marker+" && uname -m > /arch.txt && sleep 1\n")
	repo := uniqueRepo(e, "cache")
	cacheTo := "type=registry,ref=" + repo + ":cache-{arch},mode=max"
	cacheFrom := "type=registry,ref=" + repo + ":cache-{arch}"
	r := e.Run(t, "build", "--insecure", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64",
		"--build-arg", "BASE="+e.Base(), "--cache-to", cacheTo, "-t", repo+":1", dir)
	if r.ExitCode != 0 {
		t.Fatalf("first build exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	for _, tag := range []string{"cache-amd64", "cache-arm64"} {
		if _, err := remote.Head(mustRef(t, repo+":"+tag)); err != nil {
			t.Errorf("--cache-to with {arch}: %s: %v", tag, err)
		}
	}
	// The node builder has never seen this Dockerfile: a cached RUN there
	// can only come from the registry cache of its own architecture.
	r = e.Run(t, "build", "--insecure", "--progress", "plain", "--builder", e.Node, "--platform", "linux/amd64,linux/arm64",
		"--build-arg", "BASE="+e.Base(), "--cache-from", cacheFrom, "-t", repo+":2", dir)
	if r.ExitCode != 0 {
		t.Fatalf("second build exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	for _, plat := range []string{"linux/amd64", "linux/arm64"} {
		if !cachedRun(r.Stderr, plat, marker) {
			t.Errorf("%s: the RUN step was not taken from the registry cache:\n%s", plat, r.Stderr)
		}
	}
}

// cachedRun reports whether the plain progress shows the RUN step with
// marker of plat as CACHED.
func cachedRun(progress, plat, marker string) bool {
	var id string
	for _, line := range strings.Split(progress, "\n") {
		if strings.Contains(line, "["+plat+"]") && strings.Contains(line, marker) && strings.HasPrefix(line, "#") {
			id, _, _ = strings.Cut(line, " ")
		}
		if id != "" && line == id+" CACHED" {
			return true
		}
	}
	return false
}

func TestBuildDryRunTouchesNothing(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "dry")
	r := e.Run(t, "build", "--dry-run", "--insecure", "--platform", "linux/amd64,linux/arm64,linux/arm/v7",
		"-t", repo+":1", filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d: %s", r.ExitCode, r.Stderr)
	}
	for _, want := range []string{repo + ":1-arm64", repo + ":1-armv7", "linux/amd64", "native", "emulated", e.BuildkitHost} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("plan lacks %q:\n%s", want, r.Stdout)
		}
	}
	assertRepoEmpty(t, repo)
}

// TestBuildParallelOneRunsSolvesOneAfterAnother reads the raw progress of
// a --parallel 1 build: no two platforms' steps may overlap in time.
func TestBuildParallelOneRunsSolvesOneAfterAnother(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nRUN echo "+time.Now().Format("150405.000000000")+" && sleep 1\n")
	repo := uniqueRepo(e, "parallel")
	r := e.Run(t, "build", "--insecure", "--progress", "rawjson", "--parallel", "1",
		"--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+e.Base(), "-t", repo+":1", dir)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d: %s", r.ExitCode, r.Stderr)
	}
	spans := map[string][2]time.Time{}
	dec := json.NewDecoder(strings.NewReader(r.Stderr))
	for dec.More() {
		var st struct {
			Vertexes []struct {
				Name      string
				Started   *time.Time
				Completed *time.Time
			} `json:"vertexes"`
		}
		if err := dec.Decode(&st); err != nil {
			break // the summary follows the JSON
		}
		for _, v := range st.Vertexes {
			plat, ok := prefixOf(v.Name)
			if !ok || v.Started == nil || v.Completed == nil {
				continue
			}
			s := spans[plat]
			if s[0].IsZero() || v.Started.Before(s[0]) {
				s[0] = *v.Started
			}
			if v.Completed.After(s[1]) {
				s[1] = *v.Completed
			}
			spans[plat] = s
		}
	}
	a, b := spans["linux/amd64"], spans["linux/arm64"]
	if a[0].IsZero() || b[0].IsZero() {
		t.Fatalf("no steps of both platforms in the raw progress: %v", spans)
	}
	if a[0].Before(b[1]) && b[0].Before(a[1]) {
		t.Errorf("with --parallel 1 the solves overlap: amd64 %v–%v, arm64 %v–%v", a[0], a[1], b[0], b[1])
	}
}

func prefixOf(name string) (string, bool) {
	if !strings.HasPrefix(name, "[linux/") {
		return "", false
	}
	p, _, ok := strings.Cut(name[1:], "]")
	return p, ok
}

// TestBuildProvenanceKeepsAttestations: with --provenance each platform is
// pushed as an index with an attestation manifest; the final index lists
// the images, then their attestations, each naming its image.
func TestBuildProvenanceKeepsAttestations(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "prov")
	r := e.Run(t, "build", "--insecure", "--progress", "quiet", "--provenance", "mode=min",
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
	if len(m.Manifests) != 4 {
		t.Fatalf("%d children, want 2 images and 2 attestations", len(m.Manifests))
	}
	images := map[string]bool{m.Manifests[0].Digest.String(): true, m.Manifests[1].Digest.String(): true}
	for _, d := range m.Manifests[2:] {
		if d.Annotations["vnd.docker.reference.type"] != "attestation-manifest" || !images[d.Annotations["vnd.docker.reference.digest"]] {
			t.Errorf("child %s is not an attestation of a listed image: %v", d.Digest, d.Annotations)
		}
	}
	ins := e.Run(t, "inspect", "--insecure", repo+":1")
	if strings.Count(ins.Stdout, "attestation for") != 2 {
		t.Errorf("inspect does not show two attestations:\n%s", ins.Stdout)
	}
}

// TestBuildSSHAgentReachesRun forwards a real ssh-agent into RUN
// --mount=type=ssh and lists its key there.
func TestBuildSSHAgentReachesRun(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	sock := testenv.StartSSHAgent(t)
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nRUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo forwarded > /ssh.txt\n")
	repo := uniqueRepo(e, "ssh")
	r := e.RunEnv(t, []string{"BUILDKIT_HOST=" + e.BuildkitHost, "SSH_AUTH_SOCK=" + sock},
		"build", "--insecure", "--progress", "quiet", "--ssh", "default", "--platform", "linux/amd64",
		"--build-arg", "BASE="+e.Base(), "-t", repo+":1", dir)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	img, err := remote.Image(mustRef(t, repo+":1-amd64"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, img, "ssh.txt"); got != "forwarded\n" {
		t.Errorf("/ssh.txt = %q", got)
	}
}

// TestBuildNoCacheRebuilds: a second identical build is cached, the same
// build with --no-cache is not.
func TestBuildNoCacheRebuilds(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	marker := "nocache-" + time.Now().Format("150405.000000000")
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nRUN echo "+marker+"\n")
	repo := uniqueRepo(e, "nocache")
	build := func(extra ...string) string {
		args := append([]string{"build", "--insecure", "--progress", "plain", "--platform", "linux/amd64",
			"--build-arg", "BASE=" + e.Base(), "-t", repo + ":1"}, extra...)
		r := e.Run(t, append(args, dir)...)
		if r.ExitCode != 0 {
			t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
		}
		return r.Stderr
	}
	build()
	if !cachedRun(build(), "linux/amd64", marker) {
		t.Fatal("the second identical build did not use the cache: the test proves nothing")
	}
	if cachedRun(build("--no-cache"), "linux/amd64", marker) {
		t.Error("--no-cache: the RUN step was taken from the cache")
	}
}
