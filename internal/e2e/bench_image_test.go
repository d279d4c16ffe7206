package e2e

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/mab-build/mab/internal/testenv"
)

// BenchmarkOwnImage times `mab build --no-cache` of mab's own image for
// linux/arm64, from the context `make image` builds from: "cross" is the
// root Dockerfile (the Go build runs on the builder's amd64 and
// cross-compiles), "emulated" is testdata/emulated/Dockerfile, the same
// build stage without --platform=$BUILDPLATFORM, so an arm64 Go toolchain
// compiles mab under QEMU. Both compile everything anew: --no-cache, and
// GOCACHE outside the Dockerfile's cache mount. Only linux/arm64: one emulated Go build of mab
// takes far longer than the ~10 minutes three of them could be given.
//
//	go test -run '^$' -bench OwnImage -benchtime 1x ./internal/e2e
func BenchmarkOwnImage(b *testing.B) {
	e := testenv.Get(b)
	mk := exec.Command("make", "image-context")
	mk.Dir = e.Root
	if out, err := mk.CombinedOutput(); err != nil {
		b.Fatalf("make image-context: %v\n%s", err, out)
	}
	ctxDir := filepath.Join(e.Root, ".e2e", "image-context")
	goArm64 := arm64GoImage(b, e)
	repo := fmt.Sprintf("%s/image-bench-%d", e.Registry, time.Now().UnixNano())
	for _, c := range []struct {
		name, dockerfile, goImage, runsOn string
	}{
		{"cross", filepath.Join(ctxDir, "Dockerfile"), e.Registry + "/golang:local", "x86_64"},
		{"emulated", filepath.Join(e.Root, "internal", "e2e", "testdata", "emulated", "Dockerfile"), goArm64, "aarch64"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r := e.Run(b, "build", "--insecure", "--progress", "plain", "--no-cache", "--platform", "linux/arm64",
					"-f", c.dockerfile, "--build-arg", "GO_IMAGE="+c.goImage, "--build-arg", "GOCACHE=/tmp/go-build", "-t", fmt.Sprintf("%s:%s-%d", repo, c.name, i), ctxDir)
				if r.ExitCode != 0 {
					b.Fatalf("mab build (%s) exited %d:\n%s", c.name, r.ExitCode, r.Stderr)
				}
				// The comparison is honest only if the Go build really ran
				// where this case says.
				if want := "mab: compiling on " + c.runsOn + " for linux/arm64"; !strings.Contains(r.Stderr, want) {
					b.Fatalf("%s: the log lacks %q:\n%s", c.name, want, r.Stderr)
				}
			}
		})
	}
}

// arm64GoImage pushes an arm64 Go toolchain image, the environment's arm64
// busybox with Go (the golang.org/toolchain module of this Go version,
// from the Go module proxy) at /usr/local/go, set up as golang:local is,
// and returns its name.
func arm64GoImage(b *testing.B, e testenv.Env) string {
	b.Helper()
	ref := fmt.Sprintf("%s/image-golang-arm64:%s", e.Registry, runtime.Version())
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := remote.Head(tag); err == nil {
		return ref
	}
	dl := exec.Command("go", "mod", "download", "-json", "golang.org/toolchain@v0.0.1-"+runtime.Version()+".linux-arm64")
	dl.Dir = b.TempDir()
	out, err := dl.Output()
	if err != nil {
		b.Fatalf("downloading the arm64 Go toolchain: %v\n%s", err, out)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		b.Fatalf("go mod download: %v\n%s", err, out)
	}
	busybox, err := name.ParseReference(e.Base(), name.Insecure)
	if err != nil {
		b.Fatal(err)
	}
	base, err := remote.Image(busybox, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if err != nil {
		b.Fatal(err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(tarTree(pw, mod.Dir, "usr/local/go")) }()
		return pr, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		b.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Env = []string{
		"PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "GOPATH=/go", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false",
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		b.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		b.Fatalf("pushing %s: %v", ref, err)
	}
	return ref
}

// tarTree writes the tree at root under prefix, without tests and test
// data, owned by root.
func tarTree(w io.Writer, root, prefix string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() && (d.Name() == "testdata" || rel == "test" || rel == "doc" || rel == "api" || rel == "misc") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(d.Name(), "_test.go") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(filepath.Join(prefix, rel))
		if d.IsDir() {
			h.Name += "/"
			h.Mode |= 0o755
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
