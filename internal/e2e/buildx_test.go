package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
)

// buildxStore is a buildx folder of a test's own ($BUILDX_CONFIG), and
// the real buildx binary run against it.
type buildxStore struct {
	e   testenv.Env
	dir string
}

func newBuildxStore(t *testing.T, e testenv.Env) buildxStore {
	t.Helper()
	return buildxStore{e: e, dir: t.TempDir()}
}

// env is what mab and buildx need to read this store.
func (s buildxStore) env() []string {
	return []string{"BUILDX_CONFIG=" + s.dir, "DOCKER_CONFIG=" + filepath.Join(s.dir, "docker")}
}

// run runs buildx with args; the test fails when buildx does.
func (s buildxStore) run(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(s.e.Buildx, args...)
	cmd.Env = append(os.Environ(), s.env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buildx %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestBuildOnBuildxInstance: a builder that the real buildx created with
// two remote nodes, the second for linux/arm64: mab builds arm64 on the
// second and amd64 on the first, and merges them.
func TestBuildOnBuildxInstance(t *testing.T) {
	e := testenv.Get(t)
	bx := newBuildxStore(t, e)
	bx.run(t, "create", "--name", "mab-e2e", "--driver", "remote", e.BuildkitHost)
	bx.run(t, "create", "--append", "--name", "mab-e2e", "--node", "n2", "--platform", "linux/arm64", "--driver", "remote", e.Node)
	repo := uniqueRepo(e, "buildx")
	meta := filepath.Join(t.TempDir(), "m.json")
	r := e.RunEnv(t, bx.env(), "build", "--builder", "buildx://mab-e2e", "--insecure", "--progress", "quiet", "--metadata-file", meta,
		"--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+e.Base(), "-t", repo+":1", filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	md := readMetadata(t, meta)
	want := map[string]string{"linux/amd64": e.BuildkitHost, "linux/arm64": e.Node}
	if len(md.Platforms) != 2 {
		t.Fatalf("metadata platforms %+v", md.Platforms)
	}
	for _, p := range md.Platforms {
		if p.Builder != want[p.Platform] || p.Digest == "" {
			t.Errorf("%s built on %q (digest %q), want on %s", p.Platform, p.Builder, p.Digest, want[p.Platform])
		}
	}
	idx, err := remote.Index(mustRef(t, repo+":1"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil || d.String() != md.Digest {
		t.Errorf("the registry holds %s, the metadata says %s (%v)", d, md.Digest, err)
	}
	var archs []string
	for _, c := range m.Manifests {
		archs = append(archs, c.Platform.Architecture)
	}
	if strings.Join(archs, ",") != "amd64,arm64" {
		t.Errorf("index children %v, want amd64,arm64", archs)
	}

	// buildx:// alone is buildx's current builder, once `buildx use` chose it.
	bx.run(t, "use", "mab-e2e")
	r = e.RunEnv(t, bx.env(), "build", "--builder", "buildx://", "--dry-run", "--insecure",
		"--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+e.Base(), "-t", repo+":2", filepath.Join(e.Root, "examples", "hello"))
	rows := strings.Join(strings.Fields(r.Stdout), " ")
	if r.ExitCode != 0 || !strings.Contains(rows, "linux/amd64 "+repo+":2-amd64 "+e.BuildkitHost+" native") ||
		!strings.Contains(rows, "linux/arm64 "+repo+":2-arm64 "+e.Node+" ") {
		t.Errorf("dry run on the current builder, exit %d:\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
}

// TestBuildxBadInput: a builder that does not exist, a file that is not
// an instance, one without nodes, an unsupported driver, a node whose TLS
// file is missing, a name buildx would refuse: exit 1, one line, nothing
// pushed.
func TestBuildxBadInput(t *testing.T) {
	e := testenv.Get(t)
	bx := newBuildxStore(t, e)
	// The real buildx stores TLS options without checking the files.
	bx.run(t, "create", "--name", "tlsless", "--driver", "remote", "--driver-opt", "cacert=/nonexistent/ca.pem", "tcp://127.0.0.1:1")
	instances := filepath.Join(bx.dir, "instances")
	for name, content := range map[string]string{
		"broken":  "this is not JSON\n",
		"empty":   `{"Name":"empty","Driver":"remote","Nodes":[],"Dynamic":false}`,
		"cloudy":  `{"Name":"cloudy","Driver":"cloud","Nodes":[{"Name":"cloudy0","Endpoint":"cloud://org/b"}],"Dynamic":false}`,
		"spaceys": `{"Name":"spaceys","Driver":"remote","Nodes":[{"Name":"s0","Endpoint":"npipe:////./pipe/buildkitd"}],"Dynamic":false}`,
	} {
		if err := os.WriteFile(filepath.Join(instances, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(e.Root, "examples", "hello")
	repo := uniqueRepo(e, "buildx-bad")
	for _, c := range []struct{ name, builder, want string }{
		{"builder that does not exist", "buildx://nope", "buildx builder nope does not exist: no file nope in " + instances},
		{"not JSON", "buildx://broken", "instances/broken is not a buildx instance"},
		{"no nodes", "buildx://empty", "instances/empty has no nodes"},
		{"unsupported driver", "buildx://cloudy", `buildx builder cloudy: driver "cloud" is not supported`},
		{"unsupported endpoint", "buildx://spaceys", `node s0: invalid builder address "npipe:////./pipe/buildkitd": unknown scheme npipe`},
		{"TLS file missing", "buildx://tlsless", "buildx builder tlsless: node tlsless0: TLS file cacert /nonexistent/ca.pem: no such file or directory"},
		{"not a buildx name", "buildx://9lives", `"9lives" is not a buildx builder name`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tag := repo + ":" + strings.ReplaceAll(c.name, " ", "-")
			r := e.RunEnv(t, bx.env(), "build", "--builder", c.builder, "--insecure", "--platform", "linux/amd64",
				"--build-arg", "BASE="+e.Base(), "-t", tag, dir)
			assertRefused(t, r, c.want)
			assertTagMissing(t, tag)
			assertTagMissing(t, tag+"-amd64")
		})
	}
}
