package pipeline

import (
	"bytes"
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

// archTag is the arch tag the platform was written under, or none when
// it was not (pushed by digest, failed, or the index not confirmed).
func (o Outcome) archTag(none string) string {
	if o.Tagged {
		return o.Target.Name
	}
	return none
}

// printSummary writes one line per platform: status, mode (native,
// cross or emulated: see Mode), the time its exec steps ran under
// emulation, arch tag ("-" when none was written), digest (or the first
// line of the error) and duration; then, when steps ran under QEMU, the
// hint that names the slowest of them (printEmulationHint).
func printSummary(w io.Writer, outcomes []Outcome) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tSTATUS\tMODE\tEMULATED\tTAG\tDIGEST\tDURATION")
	for _, o := range outcomes {
		status, dgst := "ok", o.Digest
		if o.Err != nil {
			status, dgst = "failed", firstLine(o.Err)
		}
		mode := string(o.Mode)
		if mode == "" {
			mode = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", platform.Format(o.Target.Platform), status, mode, o.EmulatedTime.Round(100*time.Millisecond), o.archTag("-"), dgst, o.Duration.Round(100*time.Millisecond))
	}
	tw.Flush()
	printEmulationHint(w, outcomes)
}

// Metadata is what --metadata-file holds. It is written when the build
// starts (stage "planned", replacing a file of an earlier run) and again
// with the outcome, success or not. Digest is set only once the final tag
// was read back and holds it (and still held it after the other tags were
// written).
//
// The keys containerimage.digest, containerimage.descriptor and
// image.name are buildx's, for the scripts that read them: the index and
// the tags that hold it (joined by ","); with --no-merge and one platform,
// that platform's image and its repository (--push-by-digest) or arch
// tag; with --no-merge and several platforms there is no one digest, and
// they are left out.
type Metadata struct {
	Final     string   `json:"final"`
	Tags      []string `json:"tags"`
	Stage     Stage    `json:"stage"`
	Digest    string   `json:"digest,omitempty"`
	MediaType string   `json:"mediaType,omitempty"`
	Size      int64    `json:"size,omitempty"`
	// Before is what the final tag held before the write; Restored says it
	// was put back after a failed read-back; Overwritten is what it held
	// when read once more after every tag was written, when another writer
	// had replaced mab's index.
	Before      string `json:"before,omitempty"`
	Restored    bool   `json:"restored,omitempty"`
	Overwritten string `json:"overwritten,omitempty"`
	Error       string `json:"error,omitempty"`
	// PushByDigest: no arch tag was to be written. Merged: the build
	// merges into an index (false with --no-merge).
	PushByDigest bool               `json:"pushByDigest"`
	Merged       bool               `json:"merged"`
	Platforms    []PlatformMetadata `json:"platforms"`

	// Output is what --output wrote (see OutputMetadata).
	Output *OutputMetadata `json:"output,omitempty"`

	ImageDigest     string      `json:"containerimage.digest,omitempty"`
	ImageDescriptor *Descriptor `json:"containerimage.descriptor,omitempty"`
	ImageName       string      `json:"image.name,omitempty"`
}

// Descriptor is buildx's containerimage.descriptor: what was pushed.
type Descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// PlatformMetadata is one platform of Metadata. Tag is the arch tag once
// written ("" when none was); Ref is the pushed image by digest. Mode is
// native, cross or emulated (see Mode); Emulated says at least one exec
// step ran under QEMU (Mode is emulated); EmulatedSeconds is the time of
// the exec steps that ran under QEMU in this build, and EmulatedSteps
// those steps, slowest first.
type PlatformMetadata struct {
	Platform        string         `json:"platform"`
	Tag             string         `json:"tag"`
	Ref             string         `json:"ref,omitempty"`
	Digest          string         `json:"digest,omitempty"`
	MediaType       string         `json:"mediaType,omitempty"`
	Size            int64          `json:"size,omitempty"`
	Seconds         float64        `json:"durationSeconds"`
	Mode            Mode           `json:"mode,omitempty"`
	Emulated        bool           `json:"emulated"`
	EmulatedSeconds float64        `json:"emulatedSeconds"`
	EmulatedSteps   []StepMetadata `json:"emulatedSteps,omitempty"`
	Builder         string         `json:"builder,omitempty"`
	Error           string         `json:"error,omitempty"`
}

// StepMetadata is one exec step that ran under emulation: its name as
// the progress shows it, its place in the Dockerfile (when the frontend
// said) and its time.
type StepMetadata struct {
	Name    string  `json:"name"`
	File    string  `json:"file,omitempty"`
	Line    int     `json:"line,omitempty"`
	Seconds float64 `json:"seconds"`
}

// metadata is r (and runErr, the build's error) as the metadata file
// holds it.
func metadata(r *Result, runErr error) Metadata {
	m := Metadata{
		Final: r.Final.String(), Stage: r.Stage, Digest: r.Digest, MediaType: r.MediaType, Size: r.Size,
		Before: r.Before, Restored: r.Restored, Overwritten: r.Overwritten,
		PushByDigest: r.PushByDigest, Merged: r.Merged, Tags: []string{},
	}
	for _, t := range r.Tags {
		m.Tags = append(m.Tags, t.String())
	}
	if runErr != nil {
		m.Error = OneLine(runErr)
	}
	for _, o := range r.Platforms {
		pm := PlatformMetadata{
			Platform:  platform.Format(o.Target.Platform),
			Tag:       o.archTag(""),
			Digest:    o.Digest,
			MediaType: o.MediaType,
			Size:      o.Size,
			Seconds:   o.Duration.Seconds(),
			Mode:      o.Mode,
			Emulated:  o.Emulated,
			Builder:   o.Builder,

			EmulatedSeconds: o.EmulatedTime.Seconds(),
		}
		for _, st := range o.EmulatedSteps {
			pm.EmulatedSteps = append(pm.EmulatedSteps, StepMetadata{Name: st.Name, File: st.File, Line: st.Line, Seconds: st.Duration.Seconds()})
		}
		if o.Digest != "" {
			pm.Ref = r.Final.Context().Digest(o.Digest).String()
		}
		if o.Err != nil {
			pm.Error = firstLine(o.Err)
		}
		m.Platforms = append(m.Platforms, pm)
	}
	switch {
	case r.Digest != "":
		held := make([]string, len(r.Held))
		for i, t := range r.Held {
			held[i] = t.String()
		}
		m.ImageDigest, m.ImageName = r.Digest, strings.Join(held, ",")
		m.ImageDescriptor = &Descriptor{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size}
	case r.Pushed && len(r.Platforms) == 1:
		o := r.Platforms[0]
		m.ImageDigest, m.ImageName = o.Digest, o.archTag(r.Final.Context().String())
		m.ImageDescriptor = &Descriptor{MediaType: o.MediaType, Digest: o.Digest, Size: o.Size}
	}
	if r.Output != nil {
		outputMetadata(&m, r.Output, r)
	}
	return m
}

// writeMetadata writes r (and runErr, the build's error) to path
// atomically: a temporary file in the same folder, renamed over path, so
// a reader sees the old file or the new one, never half of one, and a
// symbolic link at path is replaced, not followed.
func writeMetadata(path string, r *Result, runErr error) error {
	// Not HTML-escaped: step names keep their "&&" and ">" readable.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(metadata(r, runErr)); err != nil {
		return err
	}
	if err := writeAtomic(path, b.Bytes()); err != nil {
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
