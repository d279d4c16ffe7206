package pipeline

import (
	"fmt"
	"io"
	"strings"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/emulation"
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

// NewInstaller answers which installer serves the builder at builderAddr:
// via names one (ViaHost, ViaDocker), or, when it is ViaAuto or empty, the
// builder's kernel decides (builder.KernelOf): a Docker daemon's kernel
// (its own BuildKit, or a buildkitd in one of its containers) gets the
// Docker installer with opt.Image (talking to the daemon of a
// docker+unix:// or docker+tcp:// address, else $DOCKER_HOST's), this machine's and a remote one the host
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
		// The daemon of a docker+unix:// or docker+tcp:// builder is the
		// one its builds run in; otherwise $DOCKER_HOST's.
		host, _ := strings.CutPrefix(builderAddr, "docker+")
		if host == builderAddr {
			host = ""
		}
		return emulation.Docker{Host: host, Image: opt.Image}, nil
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
