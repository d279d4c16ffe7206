package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
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

// Metadata is what --metadata-file holds.
type Metadata struct {
	Final     string             `json:"final"`
	Digest    string             `json:"digest,omitempty"`
	MediaType string             `json:"mediaType,omitempty"`
	Platforms []PlatformMetadata `json:"platforms"`
}

// PlatformMetadata is one platform of Metadata.
type PlatformMetadata struct {
	Platform string  `json:"platform"`
	Tag      string  `json:"tag"`
	Digest   string  `json:"digest,omitempty"`
	Seconds  float64 `json:"durationSeconds"`
	Emulated bool    `json:"emulated"`
	Builder  string  `json:"builder"`
	Error    string  `json:"error,omitempty"`
}

func writeMetadata(path string, r *Result) error {
	m := Metadata{Final: r.Final.String(), Digest: r.Digest, MediaType: r.MediaType}
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
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing --metadata-file: %w", err)
	}
	return nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
