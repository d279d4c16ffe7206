package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
