package emulation

import (
	"errors"
	"fmt"
	"strings"
)

// The conditions a caller may want to branch on. The package's errors
// describe what happened; a command line adds its own advice with
// errors.Is and errors.As.
var (
	// ErrNeedRoot: registering or removing handlers in this machine's
	// kernel needs root (Host.IsRoot said no).
	ErrNeedRoot = errors.New("needs root")
	// ErrNoInterpreter: no qemu-<arch>-static was found in Host.QEMUDir
	// or on PATH.
	ErrNoInterpreter = errors.New("not found")
	// ErrDynamicInterpreter: the interpreter found is dynamically linked,
	// so it would fail inside containers.
	ErrDynamicInterpreter = errors.New("is dynamically linked and would fail inside containers")
	// ErrRegisterLine: a handler's fields cannot be written to
	// binfmt_misc's register file as they are (a name or interpreter the
	// kernel would split or cut).
	ErrRegisterLine = errors.New("invalid binfmt_misc register line")
)

// BrokenHandlerError is Host.Install's refusal to touch a handler that
// serves an architecture but cannot run its builds (no F or P flag,
// disabled, or a missing interpreter) unless Host.Force is set.
type BrokenHandlerError struct {
	// Arch is the architecture's name (arm64), Entry the handler's
	// binfmt_misc entry (qemu-aarch64) and Reason what is wrong with it.
	Arch, Entry, Reason string
}

func (e *BrokenHandlerError) Error() string {
	return fmt.Sprintf("%s: handler %s is %s", e.Arch, e.Entry, e.Reason)
}

// MountError is Host.Install's error when binfmt_misc is not mounted at
// Root and mounting it failed (typically: no CAP_SYS_ADMIN, as in a
// container).
type MountError struct {
	Root string
	Err  error
}

func (e *MountError) Error() string {
	return fmt.Sprintf("binfmt_misc is not mounted at %s and mounting it failed: %v", e.Root, e.Err)
}

func (e *MountError) Unwrap() error { return e.Err }

// InstallerImageError is the Docker installer's error when the daemon
// does not have the installer image and cannot pull it.
type InstallerImageError struct {
	Image string
	Err   error
}

func (e *InstallerImageError) Error() string {
	return fmt.Sprintf("pulling installer image %s: %v", e.Image, e.Err)
}

func (e *InstallerImageError) Unwrap() error { return e.Err }

// StillServedError is the Docker installer's Uninstall error when the
// daemon's kernel still runs architectures it was asked to remove: their
// handler has a name other than qemu-<arch> (the installer image removes
// handlers by name), or the kernel runs them natively.
type StillServedError struct {
	// Arches are the architectures still run; Entries the daemon kernel's
	// enabled binfmt_misc entries other than those it was asked to remove.
	Arches, Entries []string
}

func (e *StillServedError) Error() string {
	entries := "none"
	if len(e.Entries) > 0 {
		entries = strings.Join(e.Entries, ", ")
	}
	return fmt.Sprintf("the Docker daemon's kernel still runs %s: the installer image removes handlers by name (qemu-<arch>) and cannot tell which architecture another entry serves (its other entries: %s)",
		strings.Join(e.Arches, ", "), entries)
}
