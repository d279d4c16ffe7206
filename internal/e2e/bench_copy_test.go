package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
)

// copyBench is the image BenchmarkCopy copies, built once per process
// (go test -count 5 runs the benchmark 5 times in one process), and the
// layer sizes of examples/hello with gzip and with zstd.
var copyBench struct {
	once      sync.Once
	src       attached
	gzip      int64
	zstd      int64
	setupDone bool
	// samples counts the samples taken, to rotate the tools' order.
	samples int
}

// BenchmarkCopy times a promotion: `mab copy` of a 3-platform image with
// its provenance attestations (an index of 6 manifests) into a fresh
// repository of the same registry, against `crane copy` and `regctl image
// copy` of the same tag, whole processes, the order rotating from one
// iteration and sample to the next so load on the shared machine weighs
// on each alike. ns/op is mab's time; crane-ns/op and regctl-ns/op the
// others', crane/mab and regctl/mab the ratios (above 1: mab is faster).
// With --referrers (2 attached referrers), mab is compared with regctl
// image copy --referrers (crane copy has no such option).
//
// It also reports the sum of the layer sizes of examples/hello's three
// images built with --compression gzip and with zstd (both with
// --force-compression, so the base layers count too), as gzip-bytes,
// zstd-bytes and zstd/gzip.
func BenchmarkCopy(b *testing.B) {
	e := testenv.Get(b)
	mab := e.Mab(b)
	crane, regctlBin := testenv.Crane(b), testenv.Regctl(b)
	regCfg := filepath.Join(b.TempDir(), "regctl.json")
	regEnv := append(os.Environ(), "REGCTL_CONFIG="+regCfg)
	if out, err := cmdEnv(regEnv, regctlBin, "registry", "set", e.Registry, "--tls", "disabled").CombinedOutput(); err != nil {
		b.Fatalf("regctl registry set: %v\n%s", err, out)
	}
	copyBench.once.Do(func() {
		copyBench.src = buildAttached(b, e, uniqueRepo(e, "repro-bench-src"))
		copyBench.gzip = helloLayerBytes(b, e, "gzip")
		copyBench.zstd = helloLayerBytes(b, e, "zstd")
		copyBench.setupDone = true
	})
	if !copyBench.setupDone {
		b.Fatal("the benchmark's image could not be built (see the first sample)")
	}
	src := copyBench.src.ref
	timed := func(b *testing.B, env []string, name string, args ...string) time.Duration {
		start := time.Now()
		if out, err := cmdEnv(env, name, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
		}
		return time.Since(start)
	}
	env := os.Environ()
	for _, referrers := range []bool{false, true} {
		sub := "plain"
		if referrers {
			sub = "referrers"
		}
		b.Run(sub, func(b *testing.B) {
			b.StopTimer()
			var mabT, craneT, regctlT time.Duration
			for i := range b.N {
				dst := uniqueRepo(e, "repro-bench-dst")
				runs := []func(){
					func() {
						args := []string{"copy", src, dst + "-mab:1"}
						if referrers {
							args = append(args, "--referrers")
						}
						mabT += timed(b, env, mab, args...)
					},
					func() {
						args := []string{"image", "copy", src, dst + "-regctl:1"}
						if referrers {
							args = append(args, "--referrers")
						}
						regctlT += timed(b, regEnv, regctlBin, args...)
					},
				}
				if !referrers {
					runs = append(runs, func() { craneT += timed(b, env, crane, "copy", src, dst+"-crane:1") })
				}
				for k := range runs {
					runs[(k+i+copyBench.samples)%len(runs)]()
				}
				if referrers {
					// Each tool must have copied the same index.
					for _, d := range []string{dst + "-mab:1", dst + "-regctl:1"} {
						desc, err := remote.Head(benchRef(b, d))
						if err != nil || desc.Digest != copyBench.src.digest {
							b.Fatalf("%s: %v %v, want %s", d, desc, err, copyBench.src.digest)
						}
					}
				}
			}
			copyBench.samples++
			n := float64(b.N)
			b.ReportMetric(float64(mabT.Nanoseconds())/n, "ns/op")
			b.ReportMetric(float64(regctlT.Nanoseconds())/n, "regctl-ns/op")
			b.ReportMetric(regctlT.Seconds()/mabT.Seconds(), "regctl/mab")
			if !referrers {
				b.ReportMetric(float64(craneT.Nanoseconds())/n, "crane-ns/op")
				b.ReportMetric(craneT.Seconds()/mabT.Seconds(), "crane/mab")
			}
		})
	}
	b.Run("size", func(b *testing.B) {
		b.ReportMetric(float64(copyBench.gzip), "gzip-bytes")
		b.ReportMetric(float64(copyBench.zstd), "zstd-bytes")
		b.ReportMetric(float64(copyBench.zstd)/float64(copyBench.gzip), "zstd/gzip")
	})
}

func cmdEnv(env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	return cmd
}

// helloLayerBytes builds examples/hello for three platforms with every
// layer in compression and returns the sum of the layer sizes of its
// three images.
func helloLayerBytes(b *testing.B, e testenv.Env, compression string) int64 {
	repo := uniqueRepo(e, "repro-bench-"+compression)
	r := e.Run(b, "build", "--insecure", "--progress", "quiet", "--compression", compression, "--force-compression",
		"--platform", "linux/amd64,linux/arm64,linux/arm/v7", "--build-arg", "BASE="+e.Base(), "-t", repo+":1",
		filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		b.Fatalf("mab build --compression %s exited %d:\n%s", compression, r.ExitCode, r.Stderr)
	}
	idx, err := remote.Index(benchRef(b, repo+":1"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		b.Fatal(err)
	}
	var sum int64
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			b.Fatal(err)
		}
		im, err := img.Manifest()
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range im.Layers {
			sum += l.Size
		}
	}
	if sum == 0 {
		b.Fatalf("no layers in %s", repo)
	}
	return sum
}

func benchRef(b *testing.B, s string) name.Reference {
	b.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		b.Fatal(err)
	}
	return r
}
