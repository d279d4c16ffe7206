package e2e

import (
	"archive/tar"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
)

// uniqueRepo gives each test run a repository of its own.
func uniqueRepo(e testenv.Env, prefix string) string {
	return fmt.Sprintf("%s/%s-%d", e.Registry, prefix, time.Now().UnixNano())
}

func TestBuildHelloForThreePlatforms(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "hello")
	final := repo + ":1.0"
	r := e.Run(t, "build", "--insecure", "--progress", "plain",
		"--platform", "linux/amd64,linux/arm64,linux/arm/v7",
		"--build-arg", "BASE="+e.Base(),
		"-t", final, filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("mab build exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	digest := strings.TrimSpace(r.Stdout)
	if !strings.HasPrefix(digest, "sha256:") || strings.Contains(digest, "\n") {
		t.Fatalf("stdout = %q, want only the final digest", r.Stdout)
	}
	for _, want := range []string{"[linux/amd64]", "[linux/arm64]", "[linux/arm/v7]"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("progress has no line prefixed %s", want)
		}
	}

	// Every arch tag exists.
	archTag := map[string]string{"linux/amd64": "1.0-amd64", "linux/arm64": "1.0-arm64", "linux/arm/v7": "1.0-armv7"}
	childOf := map[string]v1.Hash{}
	for plat, tag := range archTag {
		desc, err := remote.Head(mustRef(t, repo+":"+tag))
		if err != nil {
			t.Fatalf("arch tag %s: %v", tag, err)
		}
		childOf[plat] = desc.Digest
	}

	// The final tag is an index of exactly those three, with the variants.
	idx, err := remote.Index(mustRef(t, final))
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d.String() != digest {
		t.Errorf("final tag is %s, mab printed %s", d, digest)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ plat, arch, variant, uname string }{
		{"linux/amd64", "amd64", "", "x86_64"},
		{"linux/arm64", "arm64", "", "aarch64"},
		{"linux/arm/v7", "arm", "v7", "armv7l"},
	}
	if len(m.Manifests) != len(want) {
		t.Fatalf("index lists %d manifests, want %d", len(m.Manifests), len(want))
	}
	for i, w := range want {
		d := m.Manifests[i]
		if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != w.arch || d.Platform.Variant != w.variant {
			t.Errorf("child %d platform %+v, want %s", i, d.Platform, w.plat)
		}
		if d.Digest != childOf[w.plat] {
			t.Errorf("child %d is %s, but arch tag of %s is %s", i, d.Digest, w.plat, childOf[w.plat])
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != w.arch || cfg.Variant != w.variant {
			t.Errorf("%s config says %s/%s", w.plat, cfg.Architecture, cfg.Variant)
		}
		// The RUN step ran as that architecture: under QEMU for arm.
		if got := readFile(t, img, "arch.txt"); got != w.uname+"\n" {
			t.Errorf("%s /arch.txt = %q, want %q", w.plat, got, w.uname)
		}
	}

	// inspect shows the same three platforms.
	ins := e.Run(t, "inspect", "--insecure", final)
	if ins.ExitCode != 0 {
		t.Fatalf("mab inspect exited %d: %s", ins.ExitCode, ins.Stderr)
	}
	for _, w := range want {
		if !strings.Contains(ins.Stdout, w.plat) {
			t.Errorf("inspect output lacks %s:\n%s", w.plat, ins.Stdout)
		}
	}
	js := e.Run(t, "inspect", "--insecure", "--format", "json", final)
	if js.ExitCode != 0 || !strings.Contains(js.Stdout, `"platform": "linux/arm/v7"`) {
		t.Errorf("inspect --format json exited %d:\n%s", js.ExitCode, js.Stdout)
	}
}

func TestBuildBadInputPushesNothing(t *testing.T) {
	e := testenv.Get(t)
	hello := filepath.Join(e.Root, "examples", "hello")
	base := "BASE=" + e.Base()
	cases := []struct {
		name, platforms, tag, context string
		extra                         []string
		want                          string
	}{
		{"empty arch", "linux/", ":1", hello, nil, "invalid platform"},
		{"four parts", "foo/bar/baz/qux", ":1", hello, nil, "invalid platform"},
		{"duplicate platform", "linux/arm64,linux/aarch64", ":1", hello, nil, "list each platform once"},
		{"tag of 129 characters", "linux/amd64", ":" + strings.Repeat("t", 129), hello, nil, "invalid tag"},
		{"missing context", "linux/amd64", ":1", filepath.Join(hello, "nope"), nil, "build context"},
		{"missing Dockerfile", "linux/amd64", ":1", hello, []string{"-f", filepath.Join(hello, "Nope")}, "Dockerfile"},
		{"unreachable builder", "linux/amd64", ":1", hello, []string{"--builder", "unix:///nonexistent/buildkitd.sock"}, "unix:///nonexistent/buildkitd.sock"},
		{"unreachable tcp builder", "linux/amd64", ":1", hello, []string{"--builder", "tcp://127.0.0.1:1"}, "tcp://127.0.0.1:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			repo := uniqueRepo(e, "bad")
			args := append([]string{"build", "--insecure", "--platform", c.platforms, "--build-arg", base, "-t", repo + c.tag}, c.extra...)
			r := e.Run(t, append(args, c.context)...)
			checkRefused(t, r, c.want)
			assertRepoEmpty(t, repo)
		})
	}
	t.Run("invalid reference", func(t *testing.T) {
		r := e.Run(t, "build", "--platform", "linux/amd64", "-t", "Repo:Tag", hello)
		checkRefused(t, r, "invalid tag")
	})
}

func TestBuildFailsPreflightForPlatformWithoutEmulator(t *testing.T) {
	e := testenv.Get(t)
	plat := unsupportedPlatform(t, e)
	repo := uniqueRepo(e, "preflight")
	r := e.Run(t, "build", "--insecure", "--platform", "linux/amd64,"+plat, "--build-arg", "BASE="+e.Base(),
		"-t", repo+":1", filepath.Join(e.Root, "examples", "hello"))
	checkRefused(t, r, "mab emulation install")
	if !strings.Contains(r.Stderr, plat) {
		t.Errorf("the error does not name %s: %s", plat, r.Stderr)
	}
	assertRepoEmpty(t, repo)
}

func TestBuildFailingPlatformLeavesFinalTagUnchanged(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "fail")
	final := repo + ":1"
	ctx := t.TempDir()
	// First a good build, so that the final tag exists.
	writeDockerfile(t, ctx, "ARG BASE\nFROM ${BASE}\nRUN uname -m > /arch.txt\n")
	r := e.Run(t, "build", "--insecure", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64",
		"--build-arg", "BASE="+e.Base(), "-t", final, ctx)
	if r.ExitCode != 0 {
		t.Fatalf("first build exited %d: %s", r.ExitCode, r.Stderr)
	}
	before := strings.TrimSpace(r.Stdout)
	amd64Before, err := remote.Head(mustRef(t, final+"-amd64"))
	if err != nil {
		t.Fatal(err)
	}

	// Then a build whose arm64 RUN fails.
	writeDockerfile(t, ctx, "ARG BASE\nFROM ${BASE}\nRUN test \"$(uname -m)\" != aarch64\nRUN uname -m > /arch.txt\n")
	r = e.Run(t, "build", "--insecure", "--progress", "plain", "--platform", "linux/amd64,linux/arm64",
		"--build-arg", "BASE="+e.Base(), "-t", final, ctx)
	checkRefused(t, r, "1 of 2 platforms failed")
	if !strings.Contains(r.Stderr, "linux/arm64  failed") {
		t.Errorf("the summary does not mark linux/arm64 as failed:\n%s", r.Stderr)
	}
	desc, err := remote.Head(mustRef(t, final))
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest.String() != before {
		t.Errorf("final tag moved from %s to %s although a platform failed", before, desc.Digest)
	}
	// amd64 was built and pushed by digest, and its arch tag is still
	// the first build's: arch tags follow a confirmed index only.
	if now, err := remote.Head(mustRef(t, final+"-amd64")); err != nil || now.Digest != amd64Before.Digest {
		t.Errorf("arch tag %s-amd64 moved from %s to %v (%v) although a platform failed", final, amd64Before.Digest, now, err)
	}
}

// checkRefused asserts exit code 1, a one-line error naming want, and
// nothing on stdout.
func checkRefused(t *testing.T, r testenv.Result, want string) {
	t.Helper()
	if r.ExitCode != 1 {
		t.Fatalf("exit code %d, want 1; stderr:\n%s", r.ExitCode, r.Stderr)
	}
	last := testenv.LastLine(r.Stderr)
	if !strings.HasPrefix(last, "mab: ") || !strings.Contains(last, want) {
		t.Errorf("last stderr line %q, want a one-line error containing %q", last, want)
	}
	if r.Stdout != "" {
		t.Errorf("stdout = %q, want nothing", r.Stdout)
	}
}

// assertRepoEmpty checks that nothing at all was pushed to repo.
func assertRepoEmpty(t *testing.T, repo string) {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(r)
	if err == nil && len(tags) > 0 {
		t.Errorf("%s has tags %v after a refused build", repo, tags)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readFile returns the content of path in img's flattened filesystem.
func readFile(t *testing.T, img v1.Image, path string) string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("%s not in the image", path)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimPrefix(h.Name, "/") == path {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}
