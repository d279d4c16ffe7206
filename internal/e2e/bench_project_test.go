package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
)

// realProjectModule is the real project of BenchmarkRealProject: a small,
// popular HTTP server with a main package, pinned. (It depends on the
// standard library alone, so vendoring it adds no folder.)
const (
	realProjectModule  = "github.com/mccutchen/go-httpbin/v2"
	realProjectVersion = "v2.26.0"
	realProjectFolder  = "go-httpbin-" + realProjectVersion // under .cache/realproject
)

// realProjectSample alternates which tool goes first from one sample
// to the next, so load on the machine weighs on both alike.
var realProjectSample int

// BenchmarkRealProject builds a real Go module, downloaded from the Go
// module proxy and vendored, for three platforms with a Dockerfile of this
// project's own that cross-compiles on the build platform
// (testdata/realproject), --no-cache, by mab and by `docker buildx build
// --push` on the same buildkitd, and checks that each pushed a
// three-platform index. Run it with -benchtime 1x -count 3 (or more):
// each sample runs both, in an order that alternates from one sample to
// the next. ns/op is mab's wall clock, buildx-ns/op buildx's, mab/buildx
// their ratio (below 1: mab is faster); medians.sh prints the medians.
func BenchmarkRealProject(b *testing.B) {
	e := testenv.Get(b)
	src := realProjectSource(b, e)
	dockerfile := filepath.Join(e.Root, "internal", "e2e", "testdata", "realproject", "Dockerfile")
	mab := e.Mab(b) // build the binary outside every timer
	bxDir := b.TempDir()
	bxEnv := append(os.Environ(), "BUILDX_CONFIG="+bxDir, "DOCKER_CONFIG="+filepath.Join(bxDir, "docker"))
	timedRun(b, bxEnv, e.Buildx, "create", "--name", "mab-bench-project", "--driver", "remote", e.BuildkitHost)
	args := []string{"--platform", strings.Join(benchPlatforms, ","), "--no-cache", "--progress", "quiet",
		"-f", dockerfile, "--build-arg", "GO_IMAGE=" + e.Registry + "/golang:local"}
	build := map[string]func(final string) time.Duration{
		"mab": func(final string) time.Duration {
			return timedRun(b, os.Environ(), mab, append(append([]string{"build", "--insecure"}, args...), "-t", final, src)...)
		},
		"buildx": func(final string) time.Duration {
			// No provenance: mab attaches none unless asked.
			return timedRun(b, bxEnv, e.Buildx, append(append([]string{"--builder", "mab-bench-project", "build", "--provenance=false"}, args...),
				"--output", "type=image,name="+final+",push=true,registry.insecure=true", src)...)
		},
	}
	b.StopTimer()
	took := map[string]time.Duration{}
	for range b.N {
		order := []string{"mab", "buildx"}
		if realProjectSample%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		realProjectSample++
		for _, tool := range order {
			final := uniqueRepo(e, "modes-realproject-"+tool) + ":1"
			took[tool] += build[tool](final)
			checkThreePlatforms(b, final)
		}
	}
	b.ReportMetric(float64(took["mab"].Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(float64(took["buildx"].Nanoseconds())/float64(b.N), "buildx-ns/op")
	b.ReportMetric(took["mab"].Seconds()/took["buildx"].Seconds(), "mab/buildx")
}

// checkThreePlatforms fails b unless ref is an index of benchPlatforms.
func checkThreePlatforms(b *testing.B, ref string) {
	b.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		b.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		b.Fatalf("reading %s: %v", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		b.Fatal(err)
	}
	var got []string
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS != "unknown" {
			got = append(got, strings.TrimSuffix(d.Platform.OS+"/"+d.Platform.Architecture+"/"+d.Platform.Variant, "/"))
		}
	}
	if strings.Join(got, ",") != strings.Join(benchPlatforms, ",") {
		b.Fatalf("%s lists %v, want %v", ref, got, benchPlatforms)
	}
}

// timedRun runs name with args and env and returns its wall clock; b
// fails when it fails.
func timedRun(b *testing.B, env []string, name string, args ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args[:min(3, len(args))], " "), err, out)
	}
	return time.Since(start)
}

// realProjectSource is the real project's module, downloaded from the Go
// module proxy and vendored into ROOT/.cache/realproject once: later runs
// find it there.
func realProjectSource(b *testing.B, e testenv.Env) string {
	b.Helper()
	parent := filepath.Join(e.Root, ".cache", "realproject")
	dest := filepath.Join(parent, realProjectFolder)
	if _, err := os.Stat(filepath.Join(dest, "go.mod")); err == nil {
		return dest
	}
	goCmd := func(dir string, args ...string) []byte {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, exitStderr(err))
		}
		return out
	}
	out := goCmd(os.TempDir(), "mod", "download", "-json", realProjectModule+"@"+realProjectVersion)
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		b.Fatalf("go mod download %s@%s: %v %s", realProjectModule, realProjectVersion, err, mod.Error)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		b.Fatal(err)
	}
	tmp, err := os.MkdirTemp(parent, ".download-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	// The module cache is read-only: copy it into a folder of our own
	// (CopyFS creates files writable).
	if err := os.CopyFS(tmp, os.DirFS(mod.Dir)); err != nil {
		b.Fatalf("copying %s: %v", mod.Dir, err)
	}
	goCmd(tmp, "mod", "vendor")
	if err := os.Rename(tmp, dest); err != nil && !os.IsExist(err) {
		if _, serr := os.Stat(filepath.Join(dest, "go.mod")); serr != nil {
			b.Fatalf("placing %s: %v", dest, err)
		}
	}
	return dest
}
