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

// bigContextDockerfile reads the whole context on each platform (a bind
// mount needs all of it, as COPY . would) but keeps none of it in the
// image, so the benchmark weighs the context transfer, not the push of
// 200 MB layers.
const bigContextDockerfile = "ARG BASE\nFROM ${BASE}\nRUN --mount=type=bind,target=/ctx du -s /ctx > /size\n"

// bigContextSamples counts the samples of BenchmarkBigContext's
// sub-benchmarks in this process (-count runs each sub-benchmark that many
// times in a row), so that which tool goes first alternates from one
// sample to the next.
var bigContextSamples int

// BenchmarkBigContext times one build whose context is 200 MB of
// incompressible files (3,200 of 62.5 kB) for three platforms, by mab and
// by `docker buildx build --push` (a remote-driver builder) on the same
// buildkitd, reached over its unix socket (local) and over ssh:// (the
// environment's sshd, as a remote builder is). Before each build the
// files are rewritten with new content, so each tool sends the whole
// context every time; both build with --no-cache. Each iteration runs
// both tools, which goes first alternating from one sample to the next.
//
// ns/op is mab's wall clock, buildx-ns/op buildx's, mab/buildx their
// ratio (below 1: mab is faster); mab-MB/op and buildx-MB/op are the
// megabytes of main context that each one's plain progress shows
// transferred.
func BenchmarkBigContext(b *testing.B) {
	e := testenv.Get(b)
	buildx := e.Buildx
	mab := e.Mab(b) // build the binary outside every timer
	// BuildKit's ssh:// helper, in mab and in buildx, runs "ssh" from
	// PATH: a wrapper adds the environment's client config.
	bin := b.TempDir()
	wrapper := "#!/bin/sh\nexec /usr/bin/ssh -F " + e.SSHConfig + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(wrapper), 0o755); err != nil {
		b.Fatal(err)
	}
	path := "PATH=" + bin + ":" + os.Getenv("PATH")
	bxDir := b.TempDir()
	mabEnv := append(os.Environ(), path)
	bxEnv := append(os.Environ(), path, "BUILDX_CONFIG="+bxDir, "DOCKER_CONFIG="+filepath.Join(bxDir, "docker"))
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(bigContextDockerfile), 0o644); err != nil {
		b.Fatal(err)
	}
	platforms := strings.Join(benchPlatforms, ",")

	for _, ep := range []struct{ name, addr string }{
		{"local", e.BuildkitHost},
		{"ssh", "ssh://mab-e2e" + strings.TrimPrefix(e.BuildkitHost, "unix://")},
	} {
		builder := "mab-bench-" + ep.name
		if out, err := runIn(bxEnv, buildx, "create", "--name", builder, "--driver", "remote", ep.addr); err != nil {
			b.Fatalf("buildx create %s: %v\n%s", ep.addr, err, out)
		}
		repo := uniqueRepo(e, "ctx-bench-"+ep.name)
		b.Run(ep.name, func(b *testing.B) {
			b.StopTimer()
			bigContextSamples++
			var mabTime, bxTime time.Duration
			var mabBytes, bxBytes int64
			for i := range b.N {
				tag := fmt.Sprintf("%s:%d-%d", repo, time.Now().UnixNano(), i)
				runMab := func() {
					writeRandomTree(b, dir, 3200, 62500)
					d, n := timedBuild(b, mabEnv, mab, "build", "--builder", ep.addr, "--insecure", "--progress", "plain", "--no-cache",
						"--platform", platforms, "--build-arg", "BASE="+e.Base(), "-t", tag+"-mab", dir)
					mabTime += d
					mabBytes += n
				}
				runBuildx := func() {
					writeRandomTree(b, dir, 3200, 62500)
					d, n := timedBuild(b, bxEnv, buildx, "build", "--builder", builder, "--progress", "plain", "--no-cache",
						"--platform", platforms, "--build-arg", "BASE="+e.Base(),
						"--output", "type=image,name="+tag+"-buildx,push=true,registry.insecure=true", dir)
					bxTime += d
					bxBytes += n
				}
				if (bigContextSamples+i)%2 == 0 {
					runMab()
					runBuildx()
				} else {
					runBuildx()
					runMab()
				}
			}
			b.ReportMetric(float64(mabTime.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(float64(bxTime.Nanoseconds())/float64(b.N), "buildx-ns/op")
			b.ReportMetric(mabTime.Seconds()/bxTime.Seconds(), "mab/buildx")
			b.ReportMetric(float64(mabBytes)/1e6/float64(b.N), "mab-MB/op")
			b.ReportMetric(float64(bxBytes)/1e6/float64(b.N), "buildx-MB/op")
		})
	}
}

// timedBuild runs name with args and env and returns its wall clock and
// the bytes of main context its plain progress shows transferred. The
// benchmark fails when the build does.
func timedBuild(b *testing.B, env []string, name string, args ...string) (time.Duration, int64) {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s (after %s): %v\n%s", filepath.Base(name), strings.Join(args[:3], " "), d, err, out)
	}
	n, _ := contextTransferred(string(out))
	return d, n
}

// runIn runs name with args and env and returns its combined output.
func runIn(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}
