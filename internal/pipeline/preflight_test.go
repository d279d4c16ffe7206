package pipeline

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestMissingPlatformsErrorSaysNoWorker: a platform that no QEMU handler
// can provide (another OS, a variant QEMU does not serve, an installed
// handler) is answered with the builder's lack of a worker, not with an
// install of the handler that is there.
func TestMissingPlatformsErrorSaysNoWorker(t *testing.T) {
	have := plats("linux/amd64", "linux/386", "linux/arm64", "linux/arm/v7", "linux/arm/v6")
	e := &MissingPlatformsError{Builder: "unix:///bk.sock", Have: have,
		Missing: []ocispec.Platform{platforms.MustParse("windows/arm64"), platforms.MustParse("linux/arm/v9"), platforms.MustParse("windows(10.0.17763)/amd64")}}
	msg := e.Error()
	for _, want := range []string{
		"builder unix:///bk.sock has no worker for windows/arm64 (no windows worker), linux/arm/v9 (no worker for variant v9 of linux/arm), windows(10.0.17763)/amd64 (no windows worker)",
		"no QEMU handler can add one",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "emulation install") || strings.Contains(msg, "--install-emulators") {
		t.Errorf("error suggests a QEMU handler that cannot help:\n%s", msg)
	}

	// Mixed: riscv64 needs a handler, windows/arm64 a worker.
	e.Missing = plats("linux/riscv64", "windows/arm64")
	msg = e.Error()
	if !strings.Contains(msg, "cannot run linux/riscv64") || !strings.Contains(msg, "`sudo mab emulation install riscv64`") || !strings.Contains(msg, "no worker for windows/arm64") {
		t.Errorf("mixed error:\n%s", msg)
	}
	if strings.Contains(msg, "install riscv64 arm64") || strings.Contains(msg, "install arm64") {
		t.Errorf("mixed error suggests arm64's handler:\n%s", msg)
	}

	// linux/mips has no QEMU handler of mab's.
	e.Missing = plats("linux/mips")
	if msg := e.Error(); !strings.Contains(msg, "no linux/mips worker, and mab has no QEMU handler for it") || strings.Contains(msg, "emulation install") {
		t.Errorf("mips error:\n%s", msg)
	}
}

// TestInstallEmulatorsFailsAtOnceForPlatformNoHandlerServes: with
// --install-emulators, windows/arm64 fails before any installer is made or
// any wait, and the error does not advise --install-emulators.
func TestInstallEmulatorsFailsAtOnceForPlatformNoHandlerServes(t *testing.T) {
	bk := amd64Host("fake://default")
	w := newWorld(t, bk)
	p := w.plan(func(o *Options) {
		o.Platforms = []string{"linux/amd64,windows/arm64,linux/riscv64"}
		// An installer would fail loudly: none must be made.
		o.Emulators = EmulatorOptions{Install: true, Via: "none-may-be-made"}
	})
	start := time.Now()
	_, err := w.runner().Run(context.Background(), p, &bytes.Buffer{})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	var missing *MissingPlatformsError
	if !errors.As(err, &missing) || len(missing.Missing) != 1 || missing.Missing[0].OS != "windows" {
		t.Fatalf("err = %v, want windows/arm64 missing", err)
	}
	if msg := err.Error(); strings.Contains(msg, "--install-emulators") || strings.Contains(msg, "none-may-be-made") || !strings.Contains(msg, "no windows worker") {
		t.Errorf("err = %v", err)
	}
	if len(bk.built) != 0 {
		t.Errorf("built %v", bk.built)
	}
}
