package pipeline

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Mode is how a platform was built, decided by what ran: the platform of
// every exec step (RUN) of its solve, from the LLB the Dockerfile frontend
// returned, against the platforms its builder runs natively.
type Mode string

const (
	// ModeNative: the builder runs the target natively, and every exec
	// step ran natively.
	ModeNative Mode = "native"
	// ModeCross: the target is not the builder's, but no exec step ran
	// under emulation (every RUN in a stage `FROM
	// --platform=$BUILDPLATFORM`, or no RUN at all).
	ModeCross Mode = "cross"
	// ModeEmulated: at least one exec step of the build runs on a
	// platform the builder does not run natively, under QEMU.
	ModeEmulated Mode = "emulated"
)

// outcomeOn is res as built on a builder whose workers list have: its
// mode, and the exec steps that ran under emulation with their time.
func outcomeOn(res builder.Result, addr string, have []ocispec.Platform) Outcome {
	o := Outcome{Result: res, Builder: addr, Mode: ModeNative}
	if !nativeOn(have, res.Target.Platform) {
		o.Mode = ModeCross
	}
	for _, s := range res.Steps {
		p := s.Platform
		if p.OS == "" {
			p = res.Target.Platform // no platform in the LLB: the target's
		}
		if nativeOn(have, p) {
			continue
		}
		o.Mode = ModeEmulated
		if s.Ran {
			o.EmulatedSteps = append(o.EmulatedSteps, s)
			o.EmulatedTime += s.Duration
		}
	}
	o.Emulated = o.Mode == ModeEmulated
	return o
}

// hintSteps is how many of the slowest emulated steps the hint names;
// hintMinimum is the emulated time below which it says nothing.
const (
	hintSteps   = 3
	hintMinimum = time.Second
)

// printEmulationHint names, when exec steps ran under QEMU for
// hintMinimum or more in all, the slowest of them with their platform and
// Dockerfile line, and how to run them on the build platform instead.
func printEmulationHint(w io.Writer, outcomes []Outcome) {
	type slow struct {
		plat string
		step builder.Step
	}
	var (
		all   []slow
		total time.Duration
	)
	for _, o := range outcomes {
		for _, s := range o.EmulatedSteps {
			all = append(all, slow{platform.Format(o.Target.Platform), s})
		}
		total += o.EmulatedTime
	}
	if total < hintMinimum {
		return
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].step.Duration > all[j].step.Duration })
	fmt.Fprintf(w, "hint: %s of RUN steps ran under QEMU emulation; the slowest:\n", total.Round(100*time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range all[:min(hintSteps, len(all))] {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", s.step.Duration.Round(100*time.Millisecond), s.plat, stepPlace(s.step), stepText(s.step.Name))
	}
	tw.Flush()
	fmt.Fprintln(w, "  A stage `FROM --platform=$BUILDPLATFORM` runs its RUN steps natively; cross-compile there for TARGETOS/TARGETARCH and copy the result into the target's stage: see examples/go-cross")
}

// stepPlace is where s is in the Dockerfile, "Dockerfile:12", or "-".
func stepPlace(s builder.Step) string {
	if s.Line == 0 {
		return "-"
	}
	file := s.File
	if file == "" {
		file = "Dockerfile"
	}
	return fmt.Sprintf("%s:%d", file, s.Line)
}

// stepText is a vertex name without the frontend's "[stage n/m] "
// prefix, cut to one short line.
func stepText(name string) string {
	if strings.HasPrefix(name, "[") {
		if _, rest, ok := strings.Cut(name, "] "); ok {
			name = rest
		}
	}
	name, _, _ = strings.Cut(name, "\n")
	if len(name) > 72 {
		name = name[:69] + "..."
	}
	return name
}
