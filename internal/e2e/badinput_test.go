package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/testenv"
)

// TestBadInputIsRefusedChangingNothing runs the real binary with every
// class of bad input that README's "Refused input" lists and checks, for
// each, exit code 1, one line on stderr that names the problem, and that
// neither the registry nor binfmt_misc changed.
func TestBadInputIsRefusedChangingNothing(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\n")
	repo := uniqueRepo(e, "bad")
	tag := repo + ":1"
	build := func(args ...string) []string {
		return append(append([]string{"build", "--insecure", "--build-arg", "BASE=" + e.Base()}, args...), dir)
	}
	p := func(args ...string) []string {
		return build(append([]string{"--platform", "linux/amd64", "-t", tag}, args...)...)
	}
	hostless := "linux/riscv64" // never the host's platform here
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"empty architecture", build("--platform", "linux/", "-t", tag), "invalid platform"},
		{"four-part platform", build("--platform", "foo/bar/baz/qux", "-t", tag), "invalid platform"},
		{"unknown architecture", build("--platform", "linux/amd65", "-t", tag), `unknown architecture "amd65"`},
		{"unknown OS", build("--platform", "plan10/amd64", "-t", tag), "unknown operating system"},
		{"platform given twice", build("--platform", "linux/arm64,linux/aarch64", "-t", tag), "list each platform once"},
		{"no platform", build("-t", tag), "platform"},
		{"upper-case repository", build("--platform", "linux/amd64", "-t", "Repo:Tag"), "invalid tag"},
		{"129-character tag", build("--platform", "linux/amd64", "-t", repo+":"+strings.Repeat("x", 129)), "at most 128"},
		{"tag starting with a dot", build("--platform", "linux/amd64", "-t", repo+":.hidden"), "may not start with"},
		{"missing context", []string{"build", "--platform", "linux/amd64", "-t", tag, filepath.Join(dir, "nope")}, "build context"},
		{"context is a file", []string{"build", "--platform", "linux/amd64", "-t", tag, filepath.Join(dir, "Dockerfile")}, "not a directory"},
		{"missing Dockerfile", p("-f", filepath.Join(dir, "Nope")), "Dockerfile"},
		{"unknown progress mode", p("--progress", "fancy"), "invalid --progress"},
		{"build arg without a key", p("--build-arg", "=x"), "invalid --build-arg"},
		{"suffix with an unknown field", p("--suffix", "{{.Nope}}"), "invalid --suffix"},
		{"suffix equal to the tag", p("--suffix", "{{.Tag}}"), "the final tag itself"},
		{"suffix that collides", build("--platform", "linux/arm/v6,linux/arm/v7", "-t", tag, "--suffix", "{{.Tag}}-{{.Arch}}"), "would both be pushed as"},
		{"label without a value", p("--label", "novalue"), "invalid --label"},
		{"annotation without a value", p("--annotation", "novalue"), "invalid --annotation"},
		{"secret without a source", p("--secret", "id=x"), "src=FILE or env=VAR"},
		{"secret from a missing file", p("--secret", "id=x,src=/nonexistent/secret"), "no such file"},
		{"local cache", p("--cache-from", "type=local,src=/tmp"), "type=local is not supported"},
		{"registry cache without a ref", p("--cache-to", "type=registry"), "needs ref="},
		{"attestation value", p("--provenance", "maybe"), "invalid --provenance"},
		{"node without an endpoint", p("--node", "linux/arm64"), "PLATFORM=ENDPOINT"},
		{"node given twice", p("--node", "linux/arm64=tcp://a:1", "--node", "linux/aarch64=tcp://a:1"), "given twice"},
		{"negative parallelism", p("--parallel", "-1"), "invalid --parallel"},
		{"metadata file in a missing folder", p("--metadata-file", filepath.Join(dir, "missing", "m.json")), "invalid --metadata-file"},
		{"metadata file under /proc", p("--metadata-file", "/proc/mab.json"), "cannot create a file in /proc"},
		{"load without the host's platform", build("--platform", hostless, "-t", tag, "--load"), "--load loads the host's platform"},
		{"negative registry timeout", p("--registry-timeout", "-1s"), "invalid --registry-timeout"},
		{"unknown builder scheme", p("--builder", "bogus://x"), "unknown scheme bogus"},
		{"client certificate without its key", p("--tlscert", "/tmp/cert.pem"), "--tlscert and --tlskey go together"},
		{"merge: unknown architecture", []string{"merge", "--insecure", "-t", tag, "--platform", "linux/amd65", e.Base()}, `unknown architecture "amd65"`},
		{"merge: bad target", []string{"merge", "-t", "Bad:Ref", e.Base()}, "invalid --tag"},
		{"merge: bad source", []string{"merge", "-t", tag, "Bad Source"}, `source "Bad Source"`},
		{"merge: unknown media type", []string{"merge", "-t", tag, "--media-type", "weird", e.Base()}, "invalid --media-type"},
		{"merge: annotation on a Docker list", []string{"merge", "-t", tag, "--media-type", "docker", "--annotation", "a=b", e.Base()}, "needs an OCI index"},
		{"merge: unknown format", []string{"merge", "-t", tag, "--format", "xml", e.Base()}, "invalid --format"},
		{"inspect: unknown format", []string{"inspect", "--format", "xml", tag}, "invalid --format"},
		{"inspect: bad reference", []string{"inspect", "Bad Ref"}, "invalid reference"},
		{"emulation: unknown architecture", []string{"emulation", "install", "sparc99"}, "unknown architecture"},
		{"emulation: unknown installer", []string{"emulation", "install", "--via", "ssh", "arm64"}, `invalid --via "ssh"`},
		{"emulation: unknown format", []string{"emulation", "status", "--format", "xml"}, `invalid --format "xml"`},
	}
	catalog, handlers := registryCatalog(t, e), binfmtState(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assertRefused(t, e.Run(t, c.args...), c.want)
		})
	}
	if got := registryCatalog(t, e); got != catalog {
		t.Errorf("the registry changed:\nbefore %s\nafter  %s", catalog, got)
	}
	if got := binfmtState(t); got != handlers {
		t.Errorf("binfmt_misc changed:\nbefore %s\nafter  %s", handlers, got)
	}
	if len(cases) < 30 {
		t.Errorf("%d bad-input classes; README promises at least 30", len(cases))
	}
}

// registryCatalog is the registry's list of repositories.
func registryCatalog(t *testing.T, e testenv.Env) string {
	t.Helper()
	resp, err := http.Get("http://" + e.Registry + "/v2/_catalog?n=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("catalog: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// binfmtState is every binfmt_misc entry with its content.
func binfmtState(t *testing.T) string {
	t.Helper()
	const root = "/proc/sys/fs/binfmt_misc"
	names, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		b, _ := os.ReadFile(filepath.Join(root, n.Name()))
		out = append(out, n.Name()+"="+string(b))
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
