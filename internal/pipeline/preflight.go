package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/emulation"
	"github.com/mab-build/mab/internal/platform"
	"github.com/mab-build/mab/merge"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MissingPlatformsError is preflight's error: the builder's workers cannot
// run these platforms. Its message suggests a QEMU handler only for the
// platforms one can provide (see emulable); for the others it says that
// the builder has no worker for them.
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
	var have []string
	for _, h := range e.Have {
		have = append(have, platform.Format(h))
	}
	if e.Broken != "" {
		missing, arches := formatMissing(e.Missing)
		return fmt.Sprintf("builder %s lists %s, but this machine's kernel, which runs it, cannot run them: %s: register QEMU handlers with `sudo mab emulation install %s`, or pass --install-emulators",
			e.Builder, missing, e.Broken, arches)
	}
	qemu, others := splitMissing(e.Missing, e.Have)
	var parts []string
	if len(qemu) > 0 {
		missing, arches := formatMissing(qemu)
		parts = append(parts, fmt.Sprintf("builder %s cannot run %s (it runs %s): register QEMU handlers on the builder's host with `sudo mab emulation install %s`, or pass --install-emulators",
			e.Builder, missing, strings.Join(have, ", "), arches))
	}
	if len(others) > 0 {
		var why []string
		for _, p := range others {
			why = append(why, platform.FormatAll(p)+" ("+noWorkerReason(p, e.Have)+")")
		}
		parts = append(parts, fmt.Sprintf("builder %s has no worker for %s, and no QEMU handler can add one (it runs %s): build it on a builder that has, with --node PLATFORM=ENDPOINT",
			e.Builder, strings.Join(why, ", "), strings.Join(have, ", ")))
	}
	return strings.Join(parts, "; ")
}

// formatMissing lists platforms and their architectures, sorted and each
// once, as `mab emulation install` takes them.
func formatMissing(ps []ocispec.Platform) (missing, arches string) {
	var m, a []string
	for _, p := range ps {
		m = append(m, platform.FormatAll(p))
		a = append(a, p.Architecture)
	}
	slices.Sort(a)
	return strings.Join(m, ", "), strings.Join(slices.Compact(a), " ")
}

// emulable reports whether installing a QEMU handler can make a builder
// whose workers list have run p: p is a linux platform that one of mab's
// handlers serves (emulation.Arches, variant included: QEMU's arm handler
// serves linux/arm/v7 and v6, not v9), and no handler for its architecture
// is there yet (the workers list no platform of it).
func emulable(p ocispec.Platform, have []ocispec.Platform) bool {
	p = platforms.Normalize(p)
	if p.OS != "linux" {
		return false
	}
	a, err := emulation.Lookup(p.Architecture)
	if err != nil || !slices.Contains(a.Platforms, platform.Format(p)) {
		return false
	}
	return !slices.ContainsFunc(have, func(h ocispec.Platform) bool {
		h = platforms.Normalize(h)
		return h.OS == p.OS && h.Architecture == p.Architecture
	})
}

// splitMissing separates the missing platforms that a QEMU handler can
// provide from those that need a worker of their own.
func splitMissing(missing, have []ocispec.Platform) (qemu, others []ocispec.Platform) {
	for _, p := range missing {
		if emulable(p, have) {
			qemu = append(qemu, p)
		} else {
			others = append(others, p)
		}
	}
	return qemu, others
}

// noWorkerReason says in a few words why no worker of have runs p, which
// no QEMU handler can provide.
func noWorkerReason(p ocispec.Platform, have []ocispec.Platform) string {
	p = platforms.Normalize(p)
	sameOS := func(h ocispec.Platform) bool { return platforms.Normalize(h).OS == p.OS }
	sameArch := func(h ocispec.Platform) bool {
		h = platforms.Normalize(h)
		return h.OS == p.OS && h.Architecture == p.Architecture
	}
	switch {
	case !slices.ContainsFunc(have, sameOS):
		return "no " + p.OS + " worker"
	case slices.ContainsFunc(have, sameArch) && p.OSVersion != "":
		return "no worker of OS version " + p.OSVersion
	case slices.ContainsFunc(have, sameArch):
		return "no worker for variant " + cmp.Or(p.Variant, "(none)") + " of " + p.OS + "/" + p.Architecture
	}
	return "no " + p.OS + "/" + p.Architecture + " worker, and mab has no QEMU handler for it"
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
// set, it fails at once if a QEMU handler cannot provide one of them (see
// emulable), else installs their handlers, reads the worker platforms again (until
// BuildKit's cache of them expires) and fails unless every target is then
// runnable. It returns the builder's platforms as finally read.
func prepareEmulation(ctx context.Context, bk Builder, targets []Target, opt EmulatorOptions, w io.Writer) ([]ocispec.Platform, error) {
	err := checkEmulation(ctx, bk, targets)
	var missing *MissingPlatformsError
	if err != nil && (!opt.Install || !errors.As(err, &missing)) {
		return nil, err
	}
	if err != nil {
		// What no handler can provide fails now, before anything is
		// installed or waited for.
		if _, others := splitMissing(missing.Missing, missing.Have); missing.Broken == "" && len(others) > 0 {
			return nil, &MissingPlatformsError{Builder: missing.Builder, Missing: others, Have: missing.Have}
		}
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

// checkRegistries connects to the registry of every tag before anything is
// built, with every scope the publication will need, on the client that
// publishes (so each registry is still authenticated once): an unreachable
// registry, refused credentials, or one that speaks plain HTTP only and was
// not named with --insecure-registry fail here, not after the build.
func checkRegistries(ctx context.Context, p *Plan, client *merge.Client) error {
	var repos []name.Repository
	for _, t := range p.Tags {
		repos = append(repos, t.Context())
	}
	if err := client.Authorize(ctx, repos, nil); err != nil {
		return fmt.Errorf("%s, nothing built: %w", p.untouched(), err)
	}
	return nil
}
