package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// options are the flags of the command.
type options struct {
	out, root string
	targets   []target
}

// sbomName is the SPDX document's file name in the output folder.
const sbomName = "mab.spdx.json"

// run writes the release of o.root into o.out.
func run(ctx context.Context, o options) error {
	if err := checkOut(o.out); err != nil {
		return err
	}
	s, err := stampFromGit(ctx, o.root, time.Now())
	if err != nil {
		return fmt.Errorf("reading the version: %w", err)
	}
	fmt.Fprintf(os.Stderr, "release %s (commit %s, %s): %s\n", s.Version, s.Commit, s.Date.Format(time.RFC3339), strings.Join(targetNames(o.targets), ", "))
	parent := filepath.Dir(filepath.Clean(o.out))
	tmp, err := os.MkdirTemp(parent, ".release-")
	if err != nil {
		return fmt.Errorf("creating the staging folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	bins := filepath.Join(tmp, ".bin")

	// go build uses every core for one binary already; a second build
	// beside it fills the gaps (linking, archiving).
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(2, runtime.NumCPU()))
	binaries := make([]string, len(o.targets))
	for i, t := range o.targets {
		g.Go(func() error {
			bin := filepath.Join(bins, t.Name(), t.Binary())
			if err := goBuild(gctx, o.root, t, s, bin); err != nil {
				return err
			}
			binaries[i] = bin
			files := []archiveFile{
				{Name: t.Binary(), Path: bin, Mode: 0o755},
				{Name: "README.md", Path: filepath.Join(o.root, "README.md"), Mode: 0o644},
				{Name: "LICENSE", Path: filepath.Join(o.root, "LICENSE"), Mode: 0o644},
			}
			if err := writeArchive(filepath.Join(tmp, t.Archive()), t.Name(), files, s.Date); err != nil {
				return fmt.Errorf("archiving %s: %w", t, err)
			}
			fmt.Fprintf(os.Stderr, "  %s\n", t.Archive())
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	doc, err := sbom(s, binaries)
	if err != nil {
		return fmt.Errorf("writing the SBOM: %w", err)
	}
	if err := writeSBOM(filepath.Join(tmp, sbomName), doc); err != nil {
		return fmt.Errorf("writing the SBOM: %w", err)
	}
	if err := os.RemoveAll(bins); err != nil {
		return fmt.Errorf("removing the unpacked binaries: %w", err)
	}
	if err := writeChecksums(tmp); err != nil {
		return fmt.Errorf("writing checksums.txt: %w", err)
	}
	if err := os.Remove(o.out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replacing %s: %w", o.out, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("moving the release into %s: %w", o.out, err)
	}
	if err := os.Rename(tmp, o.out); err != nil {
		return fmt.Errorf("moving the release into %s: %w", o.out, err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", o.out)
	return nil
}

// checkOut refuses an output folder that holds anything: run never
// deletes files it did not write.
func checkOut(out string) error {
	f, err := os.Open(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != io.EOF {
		if err == nil {
			return fmt.Errorf("output folder %s is not empty: remove it first", out)
		}
		return fmt.Errorf("output folder %s: %w", out, err)
	}
	return nil
}

// goBuild cross-compiles cmd/mab for t into bin, static and stamped.
func goBuild(ctx context.Context, root string, t target, s stamp, bin string) error {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-buildvcs=false", "-ldflags", s.ldflags(), "-o", bin, "./cmd/mab")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), t.env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %w\n%s", t, err, out)
	}
	return nil
}
