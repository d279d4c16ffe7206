package emulation

import "context"

// Installer registers and removes QEMU handlers in the kernel that runs a
// builder's solves. Host does it in this machine's kernel; Docker in a
// Docker daemon's, through an installer container.
type Installer interface {
	// Install makes every architecture of arches runnable, natively or
	// through a handler with Flags, and returns one Outcome per
	// architecture in the order of arches (one named twice, as arm64 and
	// aarch64, counts once). It is idempotent, and on an error or a
	// cancellation it leaves the kernel as it found it, or says in the
	// error what it could not undo.
	Install(ctx context.Context, arches []Arch) ([]Outcome, error)
	// Uninstall removes the handlers that serve arches (each once) and
	// returns one Outcome (ActionRemoved) per handler removed; an architecture without
	// a handler is skipped. With ownOnly it removes only handlers named as
	// mab and tonistiigi/binfmt name them (qemu-<qemu name>) and leaves
	// those a distribution or a user registered under other names alone.
	Uninstall(ctx context.Context, arches []Arch, ownOnly bool) ([]Outcome, error)
}

// Flags are the binfmt_misc flags mab registers, those of
// tonistiigi/binfmt: P keeps argv[0], which multi-call binaries such as
// busybox need when they re-execute themselves; O and C let setuid
// programs work; F opens the interpreter at registration, so it works
// inside containers and chroots where its path does not exist.
const Flags = "POCF"

// Action is what an Installer did for one architecture.
type Action string

// The actions of an Outcome.
const (
	// ActionNative: the machine runs the architecture without emulation;
	// nothing was registered.
	ActionNative Action = "native"
	// ActionAlreadyInstalled: a working handler was there and was left alone.
	ActionAlreadyInstalled Action = "already installed"
	// ActionInstalled: a handler was registered.
	ActionInstalled Action = "installed"
	// ActionReplaced: a broken handler was removed and a working one
	// registered (Host.Force).
	ActionReplaced Action = "replaced"
	// ActionRemoved: Uninstall removed the handler Outcome.Entry.
	ActionRemoved Action = "removed"
)

// Changed reports whether the action changed the kernel's handlers.
func (a Action) Changed() bool {
	return a == ActionInstalled || a == ActionReplaced || a == ActionRemoved
}

// Outcome is what an Installer did for one architecture.
type Outcome struct {
	// Arch is the architecture's name (arm64).
	Arch   string
	Action Action
	// Entry is the binfmt_misc entry installed or removed (qemu-aarch64);
	// empty for ActionNative.
	Entry string
	// Interpreter is the handler's interpreter: a path on this machine
	// for Host, "(in IMAGE)" for Docker; empty for ActionNative and
	// ActionRemoved.
	Interpreter string
}

// unique drops the architectures of arches that an earlier one already
// names (aarch64 after arm64), keeping the order.
func unique(arches []Arch) []Arch {
	var out []Arch
	for _, a := range arches {
		if indexOf(out, a) < 0 {
			out = append(out, a)
		}
	}
	return out
}
