// Command seed pushes a multi-arch busybox image to a local registry, made
// from Debian's busybox-static packages, so that the end-to-end tests have
// a base image on machines that cannot pull from a public registry.
//
//	seed -registry 127.0.0.1:5055 -busybox .cache/busybox -repo busybox:latest \
//	     -golang /usr/local/go -golang-repo golang:local
//
// -busybox holds one extracted package per Debian architecture:
// amd64/bin/busybox, arm64/bin/busybox, armhf/bin/busybox. -golang adds a
// linux/amd64 Go toolchain image made from the host's GOROOT, for the
// cross-compiling example. A tag that exists already is left alone.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// debianArches maps Debian's architecture names to OCI platforms.
var debianArches = []struct {
	deb      string
	platform v1.Platform
}{
	{"amd64", v1.Platform{OS: "linux", Architecture: "amd64"}},
	{"arm64", v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
	{"armhf", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
}

// applets are linked to busybox in /bin; enough for the shell steps of the
// tests and the examples.
var applets = []string{
	"sh", "ash", "cat", "echo", "uname", "ls", "mkdir", "rm", "cp", "mv", "ln",
	"chmod", "touch", "test", "[", "true", "false", "env", "sleep", "head",
	"tail", "wc", "sort", "uniq", "grep", "sed", "awk", "tr", "cut", "find",
	"xargs", "printf", "id", "whoami", "hostname", "date", "tar", "gzip",
	"gunzip", "wget", "basename", "dirname", "pwd", "readlink", "stat", "tee",
	"yes", "seq", "expr", "mktemp", "md5sum", "sha256sum", "od", "dd",
}

func main() {
	registry := flag.String("registry", "", "registry host:port (plain HTTP)")
	root := flag.String("busybox", "", "folder with <debian-arch>/bin/busybox")
	repo := flag.String("repo", "busybox:latest", "repository and tag to push")
	goroot := flag.String("golang", "", "GOROOT to make a linux/amd64 Go image from (optional)")
	goRepo := flag.String("golang-repo", "golang:local", "repository and tag of the Go image")
	flag.Parse()
	if err := run(*registry, *root, *repo); err != nil {
		log.Fatalf("seed: %v", err)
	}
	if *goroot != "" {
		if err := runGolang(*registry, *root, *goroot, *goRepo); err != nil {
			log.Fatalf("seed: %v", err)
		}
	}
}

func run(registry, root, repo string) error {
	ref, err := name.NewTag(registry+"/"+repo, name.Insecure)
	if err != nil {
		return err
	}
	if _, err := remote.Head(ref); err == nil {
		fmt.Fprintf(os.Stderr, "seed: %s exists\n", ref)
		return nil
	}
	idx := mutate.IndexMediaType(empty.Index, types.DockerManifestList)
	for _, a := range debianArches {
		img, err := image(filepath.Join(root, a.deb, "bin", "busybox"), a.platform)
		if err != nil {
			return fmt.Errorf("%s: %w", a.deb, err)
		}
		p := a.platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: pushed %s@%s\n", ref, d)
	return nil
}

// image is one platform's busybox image: a single layer with /bin/busybox,
// its applet links and /tmp, with fixed timestamps so its digest is the
// same on every run.
func image(busybox string, p v1.Platform) (v1.Image, error) {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	layerTar, err := layer(bin)
	if err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Cmd = []string{"sh"}
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	return mutate.ConfigFile(img, cfg)
}

func layer(busybox []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := []string{"bin/", "etc/", "tmp/", "root/", "usr/", "usr/bin/"}
	for _, d := range dirs {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(busybox)), ModTime: epoch}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(busybox); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\n")
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, Size: int64(len(passwd)), ModTime: epoch}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(passwd); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
