package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
)

// buildMetadata builds examples/hello (or dir) for platforms with mab,
// --metadata-file on, and returns the file's path and the run.
func buildMetadata(t *testing.T, e testenv.Env, dir, platforms, tag string) (string, testenv.Result) {
	t.Helper()
	md := filepath.Join(t.TempDir(), "build.json")
	r := e.Run(t, "build", "--insecure", "--progress", "quiet", "--platform", platforms,
		"--build-arg", "BASE="+e.Base(), "--metadata-file", md, "-t", tag, dir)
	return md, r
}

// The images of a real mab build, merged from its metadata file into two
// tags of two repositories; inspect picks one child and prints the raw
// index; the dry run prints the very bytes that were pushed.
func TestMergeCLIFromMetadataIntoSeveralTags(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "mergecli")
	other := fmt.Sprintf("%s/other/mergecli-%d", e.Registry, time.Now().UnixNano())
	md, r := buildMetadata(t, e, filepath.Join(e.Root, "examples", "hello"), "linux/amd64,linux/arm64", repo+":ci")
	if r.ExitCode != 0 {
		t.Fatalf("mab build exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	var meta struct {
		Platforms []struct{ Platform, Digest string }
	}
	raw, err := os.ReadFile(md)
	if err != nil || json.Unmarshal(raw, &meta) != nil || len(meta.Platforms) != 2 {
		t.Fatalf("metadata file (%v):\n%s", err, raw)
	}

	m := e.Run(t, "merge", "-t", repo+":x", "-t", other+":x", "--from-metadata", md)
	if m.ExitCode != 0 {
		t.Fatalf("mab merge exited %d:\n%s", m.ExitCode, m.Stderr)
	}
	digest := strings.TrimSpace(m.Stdout)
	if !strings.HasPrefix(digest, "sha256:") || strings.Count(m.Stdout, "\n") != 1 {
		t.Fatalf("stdout %q, want the digest once", m.Stdout)
	}
	for _, tag := range []string{repo + ":x", other + ":x"} {
		d, err := remote.Head(mustRef(t, tag))
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		if d.Digest.String() != digest {
			t.Errorf("%s holds %s, mab printed %s", tag, d.Digest, digest)
		}
	}
	idx, err := remote.Index(mustRef(t, other+":x"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var arm64Child string
	for i, d := range im.Manifests {
		if got, want := d.Digest.String(), meta.Platforms[i].Digest; got != want {
			t.Errorf("child %d is %s, the metadata file says %s for %s", i, got, want, meta.Platforms[i].Platform)
		}
		if d.Platform != nil && d.Platform.Architecture == "arm64" {
			arm64Child = d.Digest.String()
		}
	}

	// One child's digest, for scripts that pin one architecture.
	for _, ref := range []string{repo + ":x", other + ":x"} {
		p := e.Run(t, "inspect", "--platform", "linux/arm64", "--format", "digest", ref)
		if p.ExitCode != 0 || p.Stdout != arm64Child+"\n" {
			t.Errorf("inspect --platform linux/arm64 --format digest %s: exit %d, %q; want %s\n%s", ref, p.ExitCode, p.Stdout, arm64Child, p.Stderr)
		}
	}
	// Raw means raw: its sha256 is the digest.
	rawOut := e.Run(t, "inspect", "--format", "raw", repo+":x")
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(rawOut.Stdout))); rawOut.ExitCode != 0 || got != digest {
		t.Errorf("inspect --format raw | sha256sum = %s (exit %d), want %s", got, rawOut.ExitCode, digest)
	}
	// A template over the listing.
	tmpl := e.Run(t, "inspect", "--format", `{{range .Children}}{{.Platform}} {{.Digest}}{{"\n"}}{{end}}`, repo+":x")
	if want := "linux/amd64 " + meta.Platforms[0].Digest + "\nlinux/arm64 " + arm64Child + "\n"; tmpl.ExitCode != 0 || tmpl.Stdout != want {
		t.Errorf("inspect --format template: exit %d\n got %q\nwant %q", tmpl.ExitCode, tmpl.Stdout, want)
	}
	// The dry run of the same merge prints the bytes that were pushed.
	dry := e.Run(t, "merge", "--dry-run", "-t", repo+":dry", "--from-metadata", md)
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(dry.Stdout))); dry.ExitCode != 0 || got != digest || dry.Stdout != rawOut.Stdout {
		t.Errorf("merge --dry-run | sha256sum = %s (exit %d), want %s", got, dry.ExitCode, digest)
	}
	assertTagMissing(t, repo+":dry")
}

// Bad input through the binary: one line, exit 1, nothing pushed.
func TestMergeCLIRefusesBadMetadataAndTemplates(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "mergecli-bad")
	ctx := t.TempDir()
	writeDockerfile(t, ctx, "ARG BASE\nFROM ${BASE}\nRUN test \"$(uname -m)\" != aarch64\n")
	failed, r := buildMetadata(t, e, ctx, "linux/amd64,linux/arm64", repo+":ci")
	if r.ExitCode != 1 {
		t.Fatalf("the failing build exited %d, want 1:\n%s", r.ExitCode, r.Stderr)
	}
	neither := filepath.Join(t.TempDir(), "neither.json")
	if err := os.WriteFile(neither, []byte(`{"digest":"sha256:`+strings.Repeat("0", 64)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	target := uniqueRepo(e, "mergecli-target")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"a failed build's file", []string{"merge", "-t", target + ":x", "--from-metadata", failed}, failed + ": linux/arm64 failed in that build: "},
		{"a file of neither kind", []string{"merge", "-t", target + ":x", "--from-metadata", neither}, neither + `: neither mab's metadata file (no "platforms") nor buildx's (no "containerimage.digest")`},
		{"a tag given twice", []string{"merge", "-t", target + ":x", "-t", target + ":x", e.Base()}, "give each tag once"},
		{"an unknown template field", []string{"inspect", "--format", "{{.Nope}}", e.Base()}, "can't evaluate field Nope"},
		{"a platform the index lacks", []string{"inspect", "--platform", "linux/s390x", "--format", "digest", e.Base()}, "has no linux/s390x: it has linux/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.Run(t, c.args...)
			checkRefused(t, r, c.want)
			if n := strings.Count(strings.TrimRight(r.Stderr, "\n"), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one:\n%s", n+1, r.Stderr)
			}
		})
	}
	assertRepoEmpty(t, target)
}
