package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mab-build/mab/internal/platform"
)

// printSummary writes one line per platform: status, native or emulated,
// arch tag, digest (or the first line of the error) and duration, and a
// hint when emulation was much slower than a native build.
func printSummary(w io.Writer, outcomes []Outcome) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tSTATUS\tMODE\tTAG\tDIGEST\tDURATION")
	var slowestNative, slowestEmulated time.Duration
	for _, o := range outcomes {
		status, dgst := "ok", o.Digest
		if o.Err != nil {
			status, dgst = "failed", firstLine(o.Err)
		}
		mode := "native"
		if o.Emulated {
			mode = "emulated"
			slowestEmulated = max(slowestEmulated, o.Duration)
		} else {
			slowestNative = max(slowestNative, o.Duration)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", platform.Format(o.Target.Platform), status, mode, o.Target.Name, dgst, o.Duration.Round(100*time.Millisecond))
	}
	tw.Flush()
	if slowestNative > 0 && slowestEmulated > 3*slowestNative {
		fmt.Fprintf(w, "hint: emulated platforms took %.1f× as long as native ones; `FROM --platform=$BUILDPLATFORM` with cross-compilation (TARGETOS, TARGETARCH) avoids emulation, see examples/go-cross\n",
			float64(slowestEmulated)/float64(slowestNative))
	}
}

// Metadata is what --metadata-file holds. It is written when the build
// starts (stage "planned", replacing a file of an earlier run) and again
// with the outcome, success or not. Digest is set only once the final tag
// was read back and holds it.
type Metadata struct {
	Final     string `json:"final"`
	Stage     Stage  `json:"stage"`
	Digest    string `json:"digest,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	// Before is what the final tag held before the write; Restored says it
	// was put back after a failed read-back.
	Before    string             `json:"before,omitempty"`
	Restored  bool               `json:"restored,omitempty"`
	Error     string             `json:"error,omitempty"`
	Platforms []PlatformMetadata `json:"platforms"`
}

// PlatformMetadata is one platform of Metadata.
type PlatformMetadata struct {
	Platform string  `json:"platform"`
	Tag      string  `json:"tag"`
	Digest   string  `json:"digest,omitempty"`
	Seconds  float64 `json:"durationSeconds"`
	Emulated bool    `json:"emulated"`
	Builder  string  `json:"builder,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// writeMetadata writes r (and runErr, the build's error) to path
// atomically: a temporary file in the same folder, renamed over path, so
// a reader sees the old file or the new one, never half of one, and a
// symbolic link at path is replaced, not followed.
func writeMetadata(path string, r *Result, runErr error) error {
	m := Metadata{Final: r.Final.String(), Stage: r.Stage, Digest: r.Digest, MediaType: r.MediaType, Before: r.Before, Restored: r.Restored}
	if runErr != nil {
		m.Error = OneLine(runErr)
	}
	for _, o := range r.Platforms {
		pm := PlatformMetadata{
			Platform: platform.Format(o.Target.Platform),
			Tag:      o.Target.Name,
			Digest:   o.Digest,
			Seconds:  o.Duration.Seconds(),
			Emulated: o.Emulated,
			Builder:  o.Builder,
		}
		if o.Err != nil {
			pm.Error = firstLine(o.Err)
		}
		m.Platforms = append(m.Platforms, pm)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("writing --metadata-file: %w", err)
	}
	return nil
}

// writeAtomic replaces path with data through a temporary file in the
// same folder and a rename.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing left to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// checkOutput refuses, before anything is built, an output file that
// could not be written: a missing folder, a folder in its place, a folder
// that refuses a new file (read-only, /proc).
func checkOutput(flag, path string) error {
	if st, err := os.Lstat(path); err == nil && st.IsDir() {
		return fmt.Errorf("invalid %s %s: it is a directory", flag, path)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("invalid %s %s: %w", flag, path, unwrapPath(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("invalid %s %s: %s is not a directory", flag, path, dir)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("invalid %s %s: cannot create a file in %s: %w", flag, path, dir, unwrapPath(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// OneLine folds a multi-line error (errors.Join of several platforms, a
// gRPC error with a stack) into one line, as mab prints every failure and
// as the metadata file records it.
func OneLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
