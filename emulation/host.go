package emulation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Host is the Installer of this machine's kernel: it registers static
// qemu-<arch>-static interpreters found on this machine, mounting
// binfmt_misc first when it is not. It needs root.
type Host struct {
	// Root is where binfmt_misc is (or will be) mounted; DefaultRoot when empty.
	Root string
	// QEMUDir is searched for qemu-<arch>-static before PATH.
	QEMUDir string
	// Force replaces an existing handler that lacks the F or P flag, is
	// disabled, or whose interpreter is missing; without it such a handler
	// is a *BrokenHandlerError.
	Force bool
	// IsRoot reports whether the process may change the kernel's handlers;
	// nil means os.Geteuid() == 0. Tests of the installer's logic on a fake
	// Root set it.
	IsRoot func() bool
}

var _ Installer = Host{}

func (h Host) root() string {
	if h.Root == "" {
		return DefaultRoot
	}
	return h.Root
}

func (h Host) isRoot() bool {
	if h.IsRoot != nil {
		return h.IsRoot()
	}
	return os.Geteuid() == 0
}

// Install registers a static QEMU handler with Flags for each
// architecture in arches (one named twice, as arm64 and aarch64, counts
// once), mounting binfmt_misc first when it is not. It is idempotent: a
// working handler is left alone and reported as such. Every interpreter is
// found and checked, and every register line assembled, before anything is
// written, so a missing or dynamically linked QEMU leaves the kernel's state
// as it was; a failed registration removes the handlers this call added and
// restores those it replaced, and an error of that undo is part of the
// error returned.
func (h Host) Install(ctx context.Context, arches []Arch) ([]Outcome, error) {
	if !h.isRoot() {
		return nil, fmt.Errorf("installing binfmt handlers %w", ErrNeedRoot)
	}
	root := h.root()
	mounted, err := mount(root)
	if err != nil {
		return nil, err
	}
	out, err := h.install(ctx, root, unique(arches))
	if err != nil && mounted {
		if uerr := unmount(root); uerr != nil { // leave the kernel as it was
			err = errors.Join(err, fmt.Errorf("unmounting binfmt_misc at %s again: %w", root, uerr))
		}
	}
	return out, err
}

// step is one handler Host.install writes.
type step struct {
	arch        Arch
	interpreter string
	line        string // the register line of the new handler
	replace     string // entry to remove first
	old         Entry  // the replaced entry, to restore on failure
}

func (h Host) install(ctx context.Context, root string, arches []Arch) ([]Outcome, error) {
	entries, err := Entries(root)
	if err != nil {
		return nil, err
	}

	var steps []step
	out := make([]Outcome, len(arches))
	for i, a := range arches {
		out[i] = Outcome{Arch: a.Name}
		// 386 on amd64 and arm on arm64 are native only where the kernel
		// has 32-bit compat support; elsewhere they need QEMU too.
		if a.Native() && (a.Name == runtime.GOARCH || Probe(ctx, a) == nil) {
			out[i].Action = ActionNative
			continue
		}
		st := statusOf(a, entries)
		if working(st) {
			out[i].Action, out[i].Entry, out[i].Interpreter = ActionAlreadyInstalled, st.Entry, st.Interpreter
			continue
		}
		if st.Registered && !h.Force {
			return nil, &BrokenHandlerError{Arch: a.Name, Entry: st.Entry, Reason: brokenReason(st)}
		}
		interp, err := findInterpreter(a, h.QEMUDir)
		if err != nil {
			return nil, err
		}
		line, err := RegisterLine(a, interp, Flags)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", a.Name, err)
		}
		s := step{arch: a, interpreter: interp, line: line}
		if st.Registered {
			s.replace = st.Entry
			s.old, _ = find(a, entries)
			if _, err := s.old.line(); err != nil { // it could not be put back
				return nil, fmt.Errorf("%s: replacing %s: %w", a.Name, s.replace, err)
			}
		}
		steps = append(steps, s)
	}

	// Write. On a failure, undo what this call did: remove the handlers it
	// added and put back those it replaced.
	var done []step
	for _, s := range steps {
		i := indexOf(arches, s.arch)
		if s.replace != "" {
			if err := remove(root, s.replace); err != nil {
				return nil, errors.Join(err, undo(root, done))
			}
			out[i].Action = ActionReplaced
		} else {
			out[i].Action = ActionInstalled
		}
		if err := register(root, s.line); err != nil {
			err = fmt.Errorf("%s: %w", s.arch.Name, err)
			if s.replace != "" {
				err = errors.Join(err, restore(root, s.old))
			}
			return nil, errors.Join(err, undo(root, done))
		}
		done = append(done, s)
		out[i].Entry, out[i].Interpreter = s.arch.Entry(), s.interpreter
	}
	return out, nil
}

// working reports whether st is a handler that builds can use: enabled,
// with the F and P flags, and an interpreter that exists and is static (a
// dynamically linked one, even held open by F, fails inside containers,
// which have no loader for it).
func working(st ArchStatus) bool {
	return st.Registered && st.Enabled && st.FixBinary && st.PreserveArgv0 && st.InterpreterExists && st.Static
}

// undo removes the handlers of done, newest first, and puts back those
// they replaced. Every failure is in the error.
func undo(root string, done []step) error {
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		errs = append(errs, remove(root, done[i].arch.Entry()))
		if done[i].replace != "" {
			errs = append(errs, restore(root, done[i].old))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("undoing this install: %w", err)
	}
	return nil
}

// restore registers e again exactly as it was (disabled if it was): the
// undo of a removal or a replacement.
func restore(root string, e Entry) error {
	line, err := e.line()
	if err == nil {
		err = register(root, line)
	}
	if err != nil {
		return fmt.Errorf("restoring %s: %w", e.Name, err)
	}
	if !e.Enabled {
		if err := os.WriteFile(filepath.Join(root, e.Name), []byte("0"), 0); err != nil {
			return fmt.Errorf("disabling %s: %w", e.Name, err)
		}
	}
	return nil
}

// Uninstall removes the handlers that serve arches from this machine's
// kernel (see Installer). When binfmt_misc is not mounted there is nothing
// to remove.
func (h Host) Uninstall(ctx context.Context, arches []Arch, ownOnly bool) ([]Outcome, error) {
	if !h.isRoot() {
		return nil, fmt.Errorf("removing binfmt handlers %w", ErrNeedRoot)
	}
	root := h.root()
	if !Mounted(root) {
		return nil, nil
	}
	entries, err := Entries(root)
	if err != nil {
		return nil, err
	}
	var out []Outcome
	for _, a := range unique(arches) {
		e, ok := find(a, entries)
		if !ok || ownOnly && e.Name != a.Entry() {
			continue
		}
		if err := remove(root, e.Name); err != nil {
			return out, err
		}
		out = append(out, Outcome{Arch: a.Name, Action: ActionRemoved, Entry: e.Name})
	}
	return out, nil
}

func brokenReason(st ArchStatus) string {
	switch {
	case !st.FixBinary:
		return "registered without the F flag (builds in containers fail with \"no such file or directory\")"
	case !st.PreserveArgv0:
		return "registered without the P flag (busybox and other multi-call programs fail when they re-execute themselves)"
	case !st.Enabled:
		return "disabled"
	case !st.InterpreterExists:
		return fmt.Sprintf("pointing at %s, which does not exist", st.Interpreter)
	default:
		return fmt.Sprintf("pointing at %s, which %s", st.Interpreter, ErrDynamicInterpreter)
	}
}

func indexOf(arches []Arch, a Arch) int {
	for i := range arches {
		if arches[i].Name == a.Name {
			return i
		}
	}
	return -1
}

// findInterpreter looks for qemu-<arch>-static in dir, then on PATH, and
// refuses one that is dynamically linked.
func findInterpreter(a Arch, dir string) (string, error) {
	var path string
	if dir != "" {
		p := filepath.Join(dir, a.Interpreter())
		if _, err := os.Stat(p); err == nil {
			path = p
		}
	}
	if path == "" {
		p, err := exec.LookPath(a.Interpreter())
		if err != nil {
			where := "PATH"
			if dir != "" {
				where = dir + " or PATH"
			}
			return "", fmt.Errorf("%s: %s %w in %s: install Debian's qemu-user-static or Fedora's qemu-user-static-%s", a.Name, a.Interpreter(), ErrNoInterpreter, where, a.QEMU)
		}
		path = p
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	static, err := IsStatic(path)
	if err != nil {
		return "", fmt.Errorf("%s: reading %s: %w", a.Name, path, err)
	}
	if !static {
		return "", fmt.Errorf("%s: %s %w: use a static build (Debian's qemu-user-static)", a.Name, path, ErrDynamicInterpreter)
	}
	return path, nil
}

// mount mounts binfmt_misc at root unless it is there, and reports
// whether it did.
func mount(root string) (bool, error) {
	if Mounted(root) {
		return false, nil
	}
	if err := mountBinfmt(root); err != nil {
		return false, &MountError{Root: root, Err: err}
	}
	return true, nil
}

func register(root, line string) error {
	f, err := os.OpenFile(filepath.Join(root, "register"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("opening binfmt_misc register: %w", err)
	}
	defer f.Close()
	if _, err := f.Write([]byte(line)); err != nil {
		return fmt.Errorf("registering handler: %w", err)
	}
	return nil
}

func remove(root, entry string) error {
	if err := os.WriteFile(filepath.Join(root, entry), []byte("-1"), 0); err != nil {
		return fmt.Errorf("removing binfmt_misc entry %s: %w", entry, err)
	}
	return nil
}
