package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
)

// The build benchmarks time one whole publication of a multi-platform tag
// (wall clock, b.N=1 per sample: run them with -benchtime 1x -count 5 and
// compare medians with benchstat; `make bench` does). Each compares mab
// with the hand-run sequence on the same buildkitd and registry: one
// `buildctl build … push=true` per platform, one after another, then
// `docker manifest create` and `docker manifest push`.

var benchPlatforms = []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}

const runHeavyDockerfile = `ARG BASE
FROM ${BASE}
RUN i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i > /a
RUN i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i > /b
RUN i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i > /c
`

func BenchmarkBuildHello(b *testing.B) {
	e := testenv.Get(b)
	benchBuild(b, e, filepath.Join(e.Root, "examples", "hello"))
}

func BenchmarkBuildRunHeavy(b *testing.B) {
	e := testenv.Get(b)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(runHeavyDockerfile), 0o644); err != nil {
		b.Fatal(err)
	}
	benchBuild(b, e, dir)
}

func benchBuild(b *testing.B, e testenv.Env, dir string) {
	e.Mab(b) // build the binary outside every timer
	for _, cache := range []string{"cold", "warm"} {
		noCache := cache == "cold"
		b.Run(cache+"/mab", func(b *testing.B) {
			if !noCache {
				mabBuild(b, e, dir, uniqueRepo(e, "bench-warmup"), false)
			}
			b.ResetTimer()
			for range b.N {
				mabBuild(b, e, dir, uniqueRepo(e, "bench-mab"), noCache)
			}
		})
		b.Run(cache+"/handrun", func(b *testing.B) {
			if !noCache {
				handRun(b, e, dir, uniqueRepo(e, "bench-warmup"), false)
			}
			b.ResetTimer()
			for range b.N {
				handRun(b, e, dir, uniqueRepo(e, "bench-hand"), noCache)
			}
		})
	}
}

func mabBuild(b *testing.B, e testenv.Env, dir, repo string, noCache bool) {
	args := []string{"build", "--insecure", "--progress", "quiet", "--platform", strings.Join(benchPlatforms, ","),
		"--build-arg", "BASE=" + e.Base(), "-t", repo + ":1", dir}
	if noCache {
		args = append(args, "--no-cache")
	}
	if r := e.Run(b, args...); r.ExitCode != 0 {
		b.Fatalf("mab build: %s", r.Stderr)
	}
}

func handRun(b *testing.B, e testenv.Env, dir, repo string, noCache bool) {
	var tags []string
	for _, p := range benchPlatforms {
		tag := fmt.Sprintf("%s:1-%s", repo, strings.ReplaceAll(strings.TrimPrefix(p, "linux/"), "/", ""))
		args := []string{"--addr", e.BuildkitHost, "build", "--progress", "quiet", "--frontend", "dockerfile.v0",
			"--local", "context=" + dir, "--local", "dockerfile=" + dir,
			"--opt", "platform=" + p, "--opt", "build-arg:BASE=" + e.Base(),
			"--output", "type=image,name=" + tag + ",push=true,registry.insecure=true"}
		if noCache {
			args = append(args, "--no-cache")
		}
		run(b, e.Buildctl, args...)
		tags = append(tags, tag)
	}
	run(b, "docker", append([]string{"manifest", "create", "--insecure", repo + ":1"}, tags...)...)
	run(b, "docker", "manifest", "push", "--insecure", "--purge", repo+":1")
}

func run(b *testing.B, name string, args ...string) {
	start := time.Now()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("%s %s (after %s): %v\n%s", name, strings.Join(args[:min(3, len(args))], " "), time.Since(start), err, out)
	}
}

// BenchmarkMatrixMerge times the merge job of the CI matrix flow
// (examples/github-actions, examples/gitlab-ci): N single-platform images
// already pushed by digest are merged into one index under a fresh tag, by
// `mab merge` and by `docker buildx imagetools create` (the merge step of
// Docker's multi-runner workflow) on the same digests. Each iteration runs
// both, which goes first alternating from one sample to the next, so load
// on the machine weighs on both alike. ns/op is mab's wall clock,
// imagetools-ns/op buildx's, imagetools/mab their ratio (above 1: mab is
// faster).
func BenchmarkMatrixMerge(b *testing.B) {
	e := testenv.Get(b)
	buildx := e.Buildx // MAB_TEST_BUILDX: Get fails the benchmark when it is unset
	mab := e.Mab(b)    // build the binary outside every timer
	// imagetools reads the Docker config and buildx's own state: both
	// empty, of this benchmark. 127.0.0.1 is plain HTTP to it, as to mab.
	bxEnv := append(os.Environ(), "DOCKER_CONFIG="+b.TempDir(), "BUILDX_CONFIG="+b.TempDir(), "DOCKER_HOST="+e.DockerHost)
	timed := func(b *testing.B, name string, env []string, args ...string) time.Duration {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args[:2], " "), err, out)
		}
		return time.Since(start)
	}
	for _, n := range []int{2, 8} {
		repo := uniqueRepo(e, fmt.Sprintf("bench-matrix%d", n))
		sources := pushByDigest(b, repo, matrixBenchPlatforms[:n])
		sample := 0
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.StopTimer()
			var mabTime, bxTime time.Duration
			for i := range b.N {
				tag := fmt.Sprintf("%s:%d-%d", repo, time.Now().UnixNano(), i)
				runMab := func() {
					mabTime += timed(b, mab, os.Environ(), append([]string{"merge", "--insecure-registry", e.Registry, "-t", tag + "-mab"}, sources...)...)
				}
				runBuildx := func() {
					bxTime += timed(b, buildx, bxEnv, append([]string{"imagetools", "create", "--progress", "quiet", "-t", tag + "-imagetools"}, sources...)...)
				}
				if (sample+i)%2 == 0 {
					runMab()
					runBuildx()
				} else {
					runBuildx()
					runMab()
				}
			}
			sample++
			b.ReportMetric(float64(mabTime.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(float64(bxTime.Nanoseconds())/float64(b.N), "imagetools-ns/op")
			b.ReportMetric(bxTime.Seconds()/mabTime.Seconds(), "imagetools/mab")
		})
	}
}

var matrixBenchPlatforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "arm", Variant: "v7"}, {OS: "linux", Architecture: "arm", Variant: "v6"},
	{OS: "linux", Architecture: "386"}, {OS: "linux", Architecture: "ppc64le"},
	{OS: "linux", Architecture: "s390x"}, {OS: "linux", Architecture: "riscv64"},
}

// pushByDigest pushes one small random image per platform (the platform in
// its config) to repo by digest, as the matrix flow's build jobs do, and
// returns their references, repo@sha256:….
func pushByDigest(b *testing.B, repo string, plats []v1.Platform) []string {
	b.Helper()
	var refs []string
	for _, p := range plats {
		img, err := random.Image(1024, 1)
		if err != nil {
			b.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			b.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			b.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			b.Fatal(err)
		}
		ref, err := name.NewDigest(repo + "@" + d.String())
		if err != nil {
			b.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			b.Fatalf("pushing %s: %v", ref, err)
		}
		refs = append(refs, ref.String())
	}
	return refs
}
