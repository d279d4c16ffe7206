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

	"github.com/containerd/platforms"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/emulation"
	"github.com/mab-build/mab/internal/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The installers of QEMU handlers.
const (
	// ViaAuto picks ViaDocker for a builder inside Docker, ViaHost otherwise.
	ViaAuto = "auto"
	// ViaHost registers handlers in this machine's kernel.
	ViaHost = "host"
	// ViaDocker registers them in the Docker daemon's kernel, through a
	// privileged installer container.
	ViaDocker = "docker"
)

// EmulatorOptions say whether and how `mab build` installs missing QEMU
// handlers.
type EmulatorOptions struct {
	// Install makes preflight install the handlers of the platforms the
	// builder cannot run, then check again; without it they are an error.
	Install bool
	// Via is ViaAuto (the default when empty), ViaHost or ViaDocker; see
	// NewInstaller.
	Via string
	// Image is the Docker installer's image; empty means
	// emulation.DefaultInstallerImage.
	Image string
	// QEMUDir is searched for qemu-<arch>-static by the host installer.
	QEMUDir string
	// Force and BinfmtRoot are the host installer's; see emulation.Host.
	Force      bool
	BinfmtRoot string
}

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
		missing = append(missing, platforms.Format(p))
		arches = append(arches, p.Architecture)
	}
	for _, h := range e.Have {
		have = append(have, platforms.Format(h))
	}
	slices.Sort(arches)
	if e.Broken != "" {
		return fmt.Sprintf("builder %s lists %s, but this machine's kernel, which runs it, cannot run them: %s: register QEMU handlers with `sudo mab emulation install %s`, or pass --install-emulators",
			e.Builder, strings.Join(missing, ", "), e.Broken, strings.Join(slices.Compact(arches), " "))
	}
	return fmt.Sprintf("builder %s cannot run %s (it runs %s): register QEMU handlers on the builder's host with `sudo mab emulation install %s`, or pass --install-emulators",
		e.Builder, strings.Join(missing, ", "), strings.Join(have, ", "), strings.Join(slices.Compact(arches), " "))
}

// NewInstaller answers which installer serves the builder at builderAddr:
// via names one (ViaHost, ViaDocker), or, when it is ViaAuto or empty, the
// builder's kernel decides (builder.KernelOf): a Docker daemon's kernel
// (its own BuildKit, or a buildkitd in one of its containers) gets the
// Docker installer with opt.Image, this machine's and a remote one the host
// installer with opt.QEMUDir, opt.Force and opt.BinfmtRoot, as a handler for
// a remote builder can only be registered by running mab on its host.
func NewInstaller(via, builderAddr string, opt EmulatorOptions) (emulation.Installer, error) {
	switch via {
	case "", ViaAuto:
		via = ViaHost
		if builder.KernelOf(builderAddr) == builder.KernelDocker {
			via = ViaDocker
		}
	case ViaHost, ViaDocker:
	default:
		return nil, fmt.Errorf("invalid --via %q: want auto, host or docker", via)
	}
	if via == ViaDocker {
		return emulation.Docker{Image: opt.Image}, nil
	}
	return emulation.Host{Root: opt.BinfmtRoot, QEMUDir: opt.QEMUDir, Force: opt.Force}, nil
}

// ViaOf is the name of inst's kind, ViaHost or ViaDocker, as the lines of
// PrintOutcomes show it.
func ViaOf(inst emulation.Installer) string {
	switch inst.(type) {
	case emulation.Docker, *emulation.Docker:
		return ViaDocker
	}
	return ViaHost
}

// PrintOutcomes writes one line per outcome of inst's Install or Uninstall
// to w, and says so when nothing changed: what `mab build
// --install-emulators` and `mab emulation install|uninstall` show.
func PrintOutcomes(w io.Writer, inst emulation.Installer, out []emulation.Outcome) {
	via := ViaOf(inst)
	changed := false
	for _, o := range out {
		if o.Action == emulation.ActionRemoved {
			fmt.Fprintf(w, "%-8s removed %s (%s)\n", o.Arch, o.Entry, via)
		} else {
			fmt.Fprintf(w, "%-8s %s (%s) %s\n", o.Arch, o.Action, via, o.Interpreter)
		}
		changed = changed || o.Action.Changed()
	}
	switch {
	case len(out) == 0:
		fmt.Fprintln(w, "nothing changed: no handler to remove")
	case !changed:
		fmt.Fprintln(w, "nothing changed: every handler was already installed")
	}
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
				return nil, fmt.Errorf("%s: %w", platforms.Format(m), err)
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
		if platform.Native(have[0], t.Platform) {
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
