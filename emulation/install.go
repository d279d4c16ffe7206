package emulation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// InstallOptions configures Install.
type InstallOptions struct {
	// Root is where binfmt_misc is (or will be) mounted; DefaultRoot when empty.
	Root string
	// QEMUDir is searched for qemu-<arch>-static before PATH.
	QEMUDir string
	// Force replaces an existing handler that lacks the F flag or whose
	// interpreter is missing; without it such a handler is an error.
	Force bool
}

// Flags are the binfmt_misc flags mab registers, those of
// tonistiigi/binfmt: P keeps argv[0], which multi-call binaries such as
// busybox need when they re-execute themselves; O and C let setuid
// programs work; F opens the interpreter at registration, so it works
// inside containers and chroots where its path does not exist.
const Flags = "POCF"

// Outcome is what Install did for one architecture.
type Outcome struct {
	Arch        string
	Action      string // "native", "already installed", "installed", "replaced"
	Interpreter string
}

// Install registers a static QEMU handler with Flags for each
// architecture in arches, mounting binfmt_misc first when it is not. It is
// idempotent: a working handler is left alone and reported as such. Every
// interpreter is found and checked before anything is written, so a missing
// or dynamically linked QEMU leaves the kernel's state as it was.
func Install(arches []Arch, opt InstallOptions) ([]Outcome, error) {
	root := opt.Root
	if root == "" {
		root = DefaultRoot
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("installing binfmt handlers needs root: run `sudo mab emulation install ...`")
	}
	mounted, err := mount(root)
	if err != nil {
		return nil, err
	}
	out, err := install(root, arches, opt)
	if err != nil && mounted {
		_ = unix.Unmount(root, 0) // leave the kernel as it was
	}
	return out, err
}

func install(root string, arches []Arch, opt InstallOptions) ([]Outcome, error) {
	entries, err := Entries(root)
	if err != nil {
		return nil, err
	}

	type step struct {
		arch        Arch
		interpreter string
		replace     string // entry to remove first
		old         Entry  // the replaced entry, to restore on failure
	}
	var steps []step
	out := make([]Outcome, len(arches))
	for i, a := range arches {
		out[i] = Outcome{Arch: a.Name}
		// 386 on amd64 and arm on arm64 are native only where the kernel
		// has 32-bit compat support; elsewhere they need QEMU too.
		if a.Native() && (a.Name == runtime.GOARCH || Probe(context.Background(), a) == nil) {
			out[i].Action = "native"
			continue
		}
		st := statusOf(a, entries)
		if st.Registered && st.Enabled && st.FixBinary && st.PreserveArgv0 && st.InterpreterExists {
			out[i].Action, out[i].Interpreter = "already installed", st.Interpreter
			continue
		}
		if st.Registered && !opt.Force {
			return nil, fmt.Errorf("%s: handler %s is %s; pass --force to replace it with a static QEMU and the F flag", a.Name, st.Entry, brokenReason(st))
		}
		interp, err := findInterpreter(a, opt.QEMUDir)
		if err != nil {
			return nil, err
		}
		s := step{arch: a, interpreter: interp}
		if st.Registered {
			s.replace = st.Entry
			s.old, _ = find(a, entries)
		}
		steps = append(steps, s)
	}

	// Write. On a failure, undo what this call did: remove the handlers it
	// added and put back those it replaced.
	var done []step
	undo := func() {
		for i := len(done) - 1; i >= 0; i-- {
			_ = remove(root, done[i].arch.Entry())
			if done[i].replace != "" {
				_ = Restore(root, done[i].old)
			}
		}
	}
	for _, s := range steps {
		i := indexOf(arches, s.arch)
		if s.replace != "" {
			if err := remove(root, s.replace); err != nil {
				undo()
				return nil, err
			}
			out[i].Action = "replaced"
		} else {
			out[i].Action = "installed"
		}
		if err := register(root, RegisterLine(s.arch, s.interpreter, Flags)); err != nil {
			if s.replace != "" {
				_ = Restore(root, s.old)
			}
			undo()
			return nil, fmt.Errorf("%s: %w", s.arch.Name, err)
		}
		done = append(done, s)
		out[i].Interpreter = s.interpreter
	}
	return out, nil
}

// Restore registers e again exactly as it was (disabled if it was): what a
// caller that removed or replaced a handler uses to put it back.
func Restore(root string, e Entry) error {
	if root == "" {
		root = DefaultRoot
	}
	if err := register(root, e.Line()); err != nil {
		return fmt.Errorf("restoring %s: %w", e.Name, err)
	}
	if !e.Enabled {
		if err := os.WriteFile(filepath.Join(root, e.Name), []byte("0"), 0); err != nil {
			return fmt.Errorf("disabling %s: %w", e.Name, err)
		}
	}
	return nil
}

// Uninstall removes the handlers that serve arches. With ownOnly it
// removes only handlers named as mab (and tonistiigi/binfmt) name them,
// qemu-<qemu name>, and leaves handlers that a distribution or a user
// registered under other names alone. It returns the names of the entries
// it removed; an architecture without a handler is skipped.
func Uninstall(arches []Arch, root string, ownOnly bool) ([]string, error) {
	if root == "" {
		root = DefaultRoot
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("removing binfmt handlers needs root: run `sudo mab emulation uninstall ...`")
	}
	if !Mounted(root) {
		return nil, nil
	}
	entries, err := Entries(root)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, a := range arches {
		e, ok := find(a, entries)
		if !ok || ownOnly && e.Name != a.Entry() {
			continue
		}
		if err := remove(root, e.Name); err != nil {
			return removed, err
		}
		removed = append(removed, e.Name)
	}
	return removed, nil
}

func brokenReason(st ArchStatus) string {
	switch {
	case !st.FixBinary:
		return "registered without the F flag (builds in containers fail with \"no such file or directory\")"
	case !st.PreserveArgv0:
		return "registered without the P flag (busybox and other multi-call programs fail when they re-execute themselves)"
	case !st.Enabled:
		return "disabled"
	default:
		return fmt.Sprintf("pointing at %s, which does not exist", st.Interpreter)
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
			return "", fmt.Errorf("%s: %s not found in --qemu-dir or PATH: install Debian's qemu-user-static or Fedora's qemu-user-static-%s", a.Name, a.Interpreter(), a.QEMU)
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
		return "", fmt.Errorf("%s: %s is dynamically linked and would fail inside containers: use a static build (Debian's qemu-user-static)", a.Name, path)
	}
	return path, nil
}

// mount mounts binfmt_misc at root unless it is there, and reports
// whether it did.
func mount(root string) (bool, error) {
	if Mounted(root) {
		return false, nil
	}
	if err := unix.Mount("binfmt_misc", root, "binfmt_misc", 0, ""); err != nil {
		return false, fmt.Errorf("binfmt_misc is not mounted at %s and mounting it failed: %w (in a container, use --via docker or run it with CAP_SYS_ADMIN)", root, err)
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
