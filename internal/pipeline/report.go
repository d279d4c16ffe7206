package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/containerd/platforms"
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", platforms.Format(o.Target.Platform), status, mode, o.Target.Name, dgst, o.Duration.Round(100*time.Millisecond))
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
			Platform: platforms.Format(o.Target.Platform),
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

// DryRun prints the plan: platforms, arch tags, the builder of each and
// whether it is native or emulated there. It reads the builders' platforms
// when they answer and touches nothing else.
func DryRun(ctx context.Context, p *Plan, w io.Writer) error {
	fmt.Fprintf(w, "final tag: %s\ncontext:   %s\ndockerfile: %s\n\n", p.Final, p.ContextDir, strings.TrimSuffix(p.DockerfileDir, "/")+"/"+p.DockerfileName)
	nodes, err := route(ctx, p)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tARCH TAG\tBUILDER\tMODE")
	if err != nil {
		for _, t := range p.Targets {
			b := p.Builder
			if n, ok := p.Nodes[platforms.Format(t.Platform)]; ok {
				b = n
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\tunknown\n", platforms.Format(t.Platform), t.Tag, b)
		}
		tw.Flush()
		fmt.Fprintf(w, "\nbuilders not reached: %s\n", firstLine(err))
		return nil
	}
	defer func() {
		for _, n := range nodes {
			n.client.Close()
		}
	}()
	for _, n := range nodes {
		for _, i := range n.targets {
			t := p.Targets[i]
			mode := "native"
			switch {
			case !supports(n.have, t.Platform):
				mode = "unsupported: needs `mab emulation install " + t.Platform.Architecture + "`"
			case !nativeTo(n.have, t.Platform):
				mode = "emulated"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", platforms.Format(t.Platform), t.Tag, n.client.Address(), mode)
		}
	}
	return tw.Flush()
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
