package pipeline

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mab-build/mab/builder"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestOutcomeModeIsDecidedByWhereEachRunRan(t *testing.T) {
	amd64 := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	armv7 := ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	have := []ocispec.Platform{amd64, arm64, armv7} // an amd64 host with QEMU handlers
	run := func(p ocispec.Platform, ran bool, d time.Duration) builder.Step {
		return builder.Step{Name: "[2/2] RUN x", Platform: p, Ran: ran, Duration: d}
	}
	for _, c := range []struct {
		name     string
		target   ocispec.Platform
		steps    []builder.Step
		mode     Mode
		emulated time.Duration
	}{
		{"native target, native RUN", amd64, []builder.Step{run(amd64, true, time.Second)}, ModeNative, 0},
		{"arm64 target, no RUN", arm64, nil, ModeCross, 0},
		{"arm64 target, RUN on the build platform", arm64, []builder.Step{run(amd64, true, time.Minute)}, ModeCross, 0},
		{"arm/v7 target, one RUN on it", armv7, []builder.Step{run(amd64, true, time.Minute), run(armv7, true, 3*time.Second)}, ModeEmulated, 3 * time.Second},
		{"arm64 target, its RUN cached", arm64, []builder.Step{run(arm64, false, 0)}, ModeEmulated, 0},
		{"amd64 target, a stage FROM --platform=linux/arm64", amd64, []builder.Step{run(arm64, true, 2*time.Second)}, ModeEmulated, 2 * time.Second},
		{"no platform in the LLB: the target's", arm64, []builder.Step{run(ocispec.Platform{}, true, time.Second)}, ModeEmulated, time.Second},
	} {
		o := outcomeOn(builder.Result{Target: builder.Target{Platform: c.target}, Steps: c.steps}, "fake://x", have)
		if o.Mode != c.mode || o.EmulatedTime != c.emulated || o.Emulated != (c.mode == ModeEmulated) || o.Builder != "fake://x" {
			t.Errorf("%s: mode %s, emulated %v for %s; want %s for %s", c.name, o.Mode, o.Emulated, o.EmulatedTime, c.mode, c.emulated)
		}
	}
}

func TestEmulationHintNamesTheSlowestStepsWithTheirLines(t *testing.T) {
	arm64 := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	step := func(name string, line int, d time.Duration) builder.Step {
		return builder.Step{Name: name, Platform: arm64, File: "Dockerfile", Line: line, Ran: true, Duration: d}
	}
	steps := []builder.Step{
		step("[2/5] RUN apk add gcc", 3, 40*time.Second),
		step("[3/5] RUN make", 4, 90*time.Second),
		step("[4/5] RUN make test", 5, 20*time.Second),
		step("[5/5] RUN strip /app", 6, time.Second),
	}
	var total time.Duration
	for _, s := range steps {
		total += s.Duration
	}
	var out bytes.Buffer
	printEmulationHint(&out, []Outcome{{Result: builder.Result{Target: builder.Target{Platform: arm64}}, Mode: ModeEmulated, EmulatedSteps: steps, EmulatedTime: total}})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "hint: 2m31s of RUN steps ran under QEMU") {
		t.Fatalf("hint =\n%s", out.String())
	}
	for i, want := range []string{"1m30s  linux/arm64  Dockerfile:4  RUN make", "40s    linux/arm64  Dockerfile:3  RUN apk add gcc", "20s    linux/arm64  Dockerfile:5  RUN make test"} {
		if got := strings.TrimSpace(lines[i+1]); got != want {
			t.Errorf("line %d = %q, want %q", i+1, got, want)
		}
	}
	if !strings.Contains(lines[4], "FROM --platform=$BUILDPLATFORM") || !strings.Contains(lines[4], "examples/go-cross") {
		t.Errorf("no remedy: %q", lines[4])
	}
	out.Reset()
	printEmulationHint(&out, []Outcome{{Mode: ModeCross}, {Mode: ModeEmulated, EmulatedTime: 900 * time.Millisecond, EmulatedSteps: steps[3:]}})
	if out.Len() != 0 {
		t.Errorf("a hint for under a second of emulation:\n%s", out.String())
	}
}
