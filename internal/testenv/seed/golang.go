package main

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// runGolang pushes a linux/amd64 image with busybox and the Go toolchain
// of goroot at /usr/local/go: the build stage of examples/go-cross.
func runGolang(registry, busyboxRoot, goroot, repo string) error {
	ref, err := name.NewTag(registry+"/"+repo, name.Insecure)
	if err != nil {
		return err
	}
	if _, err := remote.Head(ref); err == nil {
		fmt.Fprintf(os.Stderr, "seed: %s exists\n", ref)
		return nil
	}
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	base, err := image(filepath.Join(busyboxRoot, "amd64", "bin", "busybox"), amd64)
	if err != nil {
		return err
	}
	goLayer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeGoroot(pw, goroot)) }()
		return pr, nil
	}, tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(base, goLayer)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.Config.Env = []string{
		"PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "GOPATH=/go", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false",
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	if err := remote.Write(ref, img); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	fmt.Fprintf(os.Stderr, "seed: pushed %s\n", ref)
	return nil
}

// writeGoroot writes goroot as usr/local/go, without tests and test data.
func writeGoroot(w io.Writer, goroot string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(goroot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, path)
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
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(filepath.Join("usr/local/go", rel))
		if d.IsDir() {
			h.Name += "/"
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
