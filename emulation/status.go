package emulation

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultRoot is where binfmt_misc is mounted.
const DefaultRoot = "/proc/sys/fs/binfmt_misc"

// ArchStatus is the state of emulation for one architecture.
type ArchStatus struct {
	Arch   string `json:"arch"`
	Native bool   `json:"native"`
	// Registered is true when an entry serves this architecture; Entry is
	// its name (mab's own are qemu-<qemu name>).
	Registered  bool   `json:"registered"`
	Entry       string `json:"entry,omitempty"`
	Enabled     bool   `json:"enabled"`
	Interpreter string `json:"interpreter,omitempty"`
	// InterpreterExists and Static describe the interpreter file on this
	// machine (with F the kernel holds it open, so a missing file still
	// works until the entry is removed).
	InterpreterExists bool   `json:"interpreterExists"`
	Static            bool   `json:"static"`
	Flags             string `json:"flags"`
	FixBinary         bool   `json:"fixBinary"`
	PreserveArgv0     bool   `json:"preserveArgv0"`
	// Works is set by Probe: a program of this architecture really ran
	// (chrooted, as in a build container, when run as root). WorksError is
	// what the kernel said when it did not.
	Works      bool   `json:"works"`
	WorksError string `json:"worksError,omitempty"`
}

// Ready reports whether builds for this architecture can run: natively, or
// through an enabled handler with the F flag whose interpreter is not a
// dynamically linked file of this machine (with F the kernel holds the
// interpreter open, so one that is gone from here still works; a dynamic
// one needs a loader that build containers lack).
func (s ArchStatus) Ready() bool {
	return s.Native || (s.Registered && s.Enabled && s.FixBinary && (!s.InterpreterExists || s.Static))
}

// ProbeAll runs Probe for every row of st and records the outcome in its
// Works and WorksError fields.
func ProbeAll(ctx context.Context, st []ArchStatus) {
	for i := range st {
		a, err := Lookup(st[i].Arch)
		if err == nil {
			err = Probe(ctx, a)
		}
		st[i].Works = err == nil
		if err != nil {
			st[i].WorksError = err.Error()
		}
	}
}

// Mounted reports whether binfmt_misc is mounted at root.
func Mounted(root string) bool {
	_, err := os.Stat(filepath.Join(root, "register"))
	return err == nil
}

// Entries reads every handler registered under root, sorted by name.
func Entries(root string) ([]Entry, error) {
	des, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	var out []Entry
	for _, de := range des {
		if de.Name() == "register" || de.Name() == "status" || de.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, de.Name()))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile
			}
			return nil, fmt.Errorf("reading binfmt_misc entry: %w", err)
		}
		e, err := ParseEntry(de.Name(), data)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Status reports every architecture of Arches as seen in binfmt_misc at
// root. When binfmt_misc is not mounted every foreign architecture is
// reported as not registered.
func Status(root string) ([]ArchStatus, error) {
	var entries []Entry
	if Mounted(root) {
		var err error
		if entries, err = Entries(root); err != nil {
			return nil, err
		}
	}
	out := make([]ArchStatus, 0, len(Arches))
	for _, a := range Arches {
		out = append(out, statusOf(a, entries))
	}
	return out, nil
}

func statusOf(a Arch, entries []Entry) ArchStatus {
	s := ArchStatus{Arch: a.Name, Native: a.Native()}
	e, ok := find(a, entries)
	if !ok {
		return s
	}
	s.Registered, s.Entry, s.Enabled = true, e.Name, e.Enabled
	s.Interpreter, s.Flags, s.FixBinary = e.Interpreter, e.Flags, e.FixBinary()
	s.PreserveArgv0 = strings.Contains(e.Flags, "P")
	if _, err := os.Stat(e.Interpreter); err == nil {
		s.InterpreterExists = true
		s.Static, _ = IsStatic(e.Interpreter)
	}
	return s
}

// find returns the entry that serves a, preferring mab's own name.
func find(a Arch, entries []Entry) (Entry, bool) {
	var found *Entry
	for i, e := range entries {
		if !e.Serves(a) {
			continue
		}
		if e.Name == a.Entry() {
			return e, true
		}
		if found == nil {
			found = &entries[i]
		}
	}
	if found == nil {
		return Entry{}, false
	}
	return *found, true
}

// IsStatic reports whether the ELF file at path needs no dynamic loader
// (static and static-pie executables have no PT_INTERP program header). A
// dynamically linked QEMU fails inside a container, whose root has no
// loader for it.
func IsStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}
