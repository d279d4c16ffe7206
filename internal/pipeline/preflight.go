package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/emulation"
	"github.com/mab-build/mab/internal/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MissingPlatformsError is preflight's error: the builder's workers cannot
// run these platforms.
type MissingPlatformsError struct {
	Builder string
	Missing []ocispec.Platform
	Have    []ocispec.Platform
	// Broken, when set, says why platforms that the workers do list cannot
	// run: BuildKit never drops a platform it once detected, so a handler
	// removed since then still shows in its list.
	Broken string
}

func (e *MissingPlatformsError) Error() string {
	var missing, have, arches []string
	for _, p := range e.Missing {
		missing = append(missing, platform.Format(p))
		arches = append(arches, p.Architecture)
	}
	for _, h := range e.Have {
		have = append(have, platform.Format(h))
	}
	slices.Sort(arches)
	if e.Broken != "" {
		return fmt.Sprintf("builder %s lists %s, but this machine's kernel, which runs it, cannot run them: %s: register QEMU handlers with `sudo mab emulation install %s`, or pass --install-emulators",
			e.Builder, strings.Join(missing, ", "), e.Broken, strings.Join(slices.Compact(arches), " "))
	}
	return fmt.Sprintf("builder %s cannot run %s (it runs %s): register QEMU handlers on the builder's host with `sudo mab emulation install %s`, or pass --install-emulators",
		e.Builder, strings.Join(missing, ", "), strings.Join(have, ", "), strings.Join(slices.Compact(arches), " "))
}

// reprobeTimeout bounds the wait, after an install, for the builder to
// list the new platforms: BuildKit caches its emulator check for 20s.
const reprobeTimeout = 45 * time.Second

// Preflight fails unless the builder's workers can run every target's
// platform, with a *MissingPlatformsError that names the fix.
func Preflight(ctx context.Context, bk Builder, targets []Target) error {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	have, err := bk.Platforms(ctx)
	if err != nil {
		return err
	}
	var missing []ocispec.Platform
	for _, t := range targets {
		if !platform.Supports(have, t.Platform) {
			missing = append(missing, t.Platform)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &MissingPlatformsError{Builder: bk.Address(), Missing: missing, Have: have}
}

// prepareEmulation is preflight with its remedy, for the targets routed to
// one builder: when the builder cannot run some of them and opt.Install is
// set, it installs their handlers, reads the worker platforms again (until
// BuildKit's cache of them expires) and fails unless every target is then
// runnable. It returns the builder's platforms as finally read.
func prepareEmulation(ctx context.Context, bk Builder, targets []Target, opt EmulatorOptions, w io.Writer) ([]ocispec.Platform, error) {
	err := checkEmulation(ctx, bk, targets)
	var missing *MissingPlatformsError
	if err != nil && (!opt.Install || !errors.As(err, &missing)) {
		return nil, err
	}
	if err != nil {
		var arches []emulation.Arch
		for _, m := range missing.Missing {
			a, err := emulation.Lookup(m.Architecture)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", platform.Format(m), err)
			}
			if !slices.ContainsFunc(arches, func(x emulation.Arch) bool { return x.Name == a.Name }) {
				arches = append(arches, a)
			}
		}
		inst, err := NewInstaller(opt.Via, bk.Address(), opt)
		if err != nil {
			return nil, fmt.Errorf("--install-emulators: %w", err)
		}
		out, err := inst.Install(ctx, arches)
		if err != nil {
			return nil, fmt.Errorf("--install-emulators: %w", err)
		}
		PrintOutcomes(w, inst, out)
		deadline := time.Now().Add(reprobeTimeout)
		for {
			err = checkEmulation(ctx, bk, targets)
			if err == nil || !errors.As(err, &missing) || time.Now().After(deadline) {
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(2 * time.Second):
			}
		}
		if err != nil {
			return nil, fmt.Errorf("after installing QEMU handlers: %w", err)
		}
	}
	return bk.Platforms(ctx)
}

// checkEmulation is Preflight, and for a builder on a unix socket of this
// machine (whose kernel runs its builds) a probe of each emulated target in
// the local kernel: BuildKit keeps listing a platform after its handler was
// removed, so its list alone can be stale.
func checkEmulation(ctx context.Context, bk Builder, targets []Target) error {
	if err := Preflight(ctx, bk, targets); err != nil {
		return err
	}
	if builder.KernelOf(bk.Address()) != builder.KernelLocal || runtime.GOOS != "linux" {
		return nil
	}
	have, err := bk.Platforms(ctx)
	if err != nil {
		return err
	}
	broken := &MissingPlatformsError{Builder: bk.Address(), Have: have}
	var why []string
	for _, t := range targets {
		if nativeOn(have, t.Platform) {
			continue
		}
		a, err := emulation.Lookup(t.Platform.Architecture)
		if err != nil {
			continue // not an architecture mab can probe
		}
		if err := emulation.Probe(ctx, a); err != nil {
			broken.Missing = append(broken.Missing, t.Platform)
			why = append(why, err.Error())
		}
	}
	if len(why) == 0 {
		return nil
	}
	broken.Broken = strings.Join(why, "; ")
	return broken
}
