package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/internal/testenv"
)

// summaryLine finds the summary's line of plat and returns its MODE and
// EMULATED columns.
func summaryLine(t *testing.T, stderr, plat string) (mode, emulated string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(plat) + `\s+ok\s+(\S+)\s+(\S+)\s`)
	m := re.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no summary line for %s:\n%s", plat, stderr)
	}
	return m[1], m[2]
}

// TestModeCrossWhenEveryRunIsOnTheBuildPlatform builds examples/go-cross,
// whose one RUN is in a stage FROM --platform=$BUILDPLATFORM: arm64 is
// not the builder's platform, but nothing ran under QEMU, so it is
// "cross" with 0s emulated, in the summary and in the metadata file.
func TestModeCrossWhenEveryRunIsOnTheBuildPlatform(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "modes-cross")
	meta := filepath.Join(t.TempDir(), "meta.json")
	r := e.Run(t, "build", "--insecure", "--progress", "plain", "--no-cache",
		"--platform", "linux/amd64,linux/arm64",
		"--build-arg", "GO_IMAGE="+e.Registry+"/golang:local",
		"--metadata-file", meta,
		"-t", repo+":1", filepath.Join(e.Root, "examples", "go-cross"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	want := map[string]pipeline.Mode{"linux/amd64": pipeline.ModeNative, "linux/arm64": pipeline.ModeCross}
	for plat, mode := range want {
		got, emulated := summaryLine(t, r.Stderr, plat)
		if got != string(mode) || emulated != "0s" {
			t.Errorf("summary of %s: mode %s, emulated %s; want %s, 0s\n%s", plat, got, emulated, mode, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "ran under QEMU") {
		t.Errorf("an emulation hint for a build that emulated nothing:\n%s", r.Stderr)
	}
	md := readMetadata(t, meta)
	for _, p := range md.Platforms {
		if p.Mode != want[p.Platform] || p.Emulated || p.EmulatedSeconds != 0 || len(p.EmulatedSteps) != 0 {
			t.Errorf("metadata of %s: mode %q, emulated %v, %gs, steps %v; want %s, none", p.Platform, p.Mode, p.Emulated, p.EmulatedSeconds, p.EmulatedSteps, want[p.Platform])
		}
	}
}

// TestModeEmulatedWhenARunRunsOnTheTarget builds a Dockerfile whose RUN
// runs on the target platform: arm64's RUN runs under QEMU, so arm64 is
// "emulated" with the RUN's time, the hint names that RUN and its line,
// and amd64 stays native.
func TestModeEmulatedWhenARunRunsOnTheTarget(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nCOPY Dockerfile /\n"+
		"RUN uname -m > /arch.txt && i=0 && while [ $i -lt 20000 ]; do i=$((i+1)); done && sleep 1\n")
	repo := uniqueRepo(e, "modes-emulated")
	meta := filepath.Join(t.TempDir(), "meta.json")
	r := e.Run(t, "build", "--insecure", "--progress", "plain", "--no-cache",
		"--platform", "linux/amd64,linux/arm64",
		"--build-arg", "BASE="+e.Base(),
		"--metadata-file", meta,
		"-t", repo+":1", dir)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	if mode, emulated := summaryLine(t, r.Stderr, "linux/amd64"); mode != "native" || emulated != "0s" {
		t.Errorf("summary of linux/amd64: mode %s, emulated %s; want native, 0s\n%s", mode, emulated, r.Stderr)
	}
	if mode, emulated := summaryLine(t, r.Stderr, "linux/arm64"); mode != "emulated" || emulated == "0s" {
		t.Errorf("summary of linux/arm64: mode %s, emulated %s; want emulated, more than 0s\n%s", mode, emulated, r.Stderr)
	}
	md := readMetadata(t, meta)
	if len(md.Platforms) != 2 {
		t.Fatalf("metadata lists %d platforms", len(md.Platforms))
	}
	amd, arm := md.Platforms[0], md.Platforms[1]
	if amd.Mode != pipeline.ModeNative || amd.Emulated || amd.EmulatedSeconds != 0 {
		t.Errorf("metadata of amd64 = %+v", amd)
	}
	if arm.Mode != pipeline.ModeEmulated || !arm.Emulated || arm.EmulatedSeconds <= 0 || len(arm.EmulatedSteps) != 1 {
		t.Fatalf("metadata of arm64 = %+v", arm)
	}
	if s := arm.EmulatedSteps[0]; s.Line != 4 || !strings.Contains(s.Name, "RUN uname -m") || s.Seconds <= 0 || s.Seconds > arm.Seconds {
		t.Errorf("arm64's emulated step = %+v, want the RUN at line 4 within the build's %gs", s, arm.Seconds)
	}
	if !regexp.MustCompile(`(?m)^  \S+  linux/arm64  Dockerfile:4  RUN uname -m`).MatchString(r.Stderr) || !strings.Contains(r.Stderr, "FROM --platform=$BUILDPLATFORM") {
		t.Errorf("the hint does not name arm64's RUN at Dockerfile:4 and the remedy:\n%s", r.Stderr)
	}
}
