package emulation

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func mustLine(t *testing.T, a Arch, interpreter, flags string) string {
	t.Helper()
	line, err := RegisterLine(a, interpreter, flags)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// kernelFields splits a register line as fs/binfmt_misc.c does: the first
// character is the delimiter, the fields are found by scanning for it, and
// only magic and mask are unescaped.
func kernelFields(t *testing.T, line string) (name, offset string, magic, mask []byte, interpreter, flags string) {
	t.Helper()
	f := strings.Split(line[1:], line[:1])
	if len(f) != 7 || f[1] != "M" {
		t.Fatalf("the kernel would refuse %q: %d fields", line, len(f))
	}
	unescape := func(s string) []byte {
		var out []byte
		for len(s) > 0 {
			if !strings.HasPrefix(s, `\x`) || len(s) < 4 {
				t.Fatalf("magic or mask %q not fully escaped", s)
			}
			v, err := strconv.ParseUint(s[2:4], 16, 8)
			if err != nil {
				t.Fatal(err)
			}
			out, s = append(out, byte(v)), s[4:]
		}
		return out
	}
	return f[0], f[2], unescape(f[3]), unescape(f[4]), f[5], f[6]
}

// TestRegisterLineAvoidsDelimiterInInterpreter: an interpreter path with
// ':' in it gets another delimiter, and the kernel reads back each field
// exactly; one that holds every candidate delimiter, or a newline, is
// refused.
func TestRegisterLineAvoidsDelimiterInInterpreter(t *testing.T) {
	a, _ := Lookup("arm64")
	for _, interp := range []string{"/usr/bin/qemu-aarch64-static", "/opt/q:emu/qemu-aarch64-static", "/o:p|t#/q!e,m;u@%+=~^"} {
		line, err := RegisterLine(a, interp, Flags)
		if strings.ContainsRune(interp, '^') {
			if !errors.Is(err, ErrRegisterLine) {
				t.Errorf("interpreter %q holding every delimiter: line %q, err %v", interp, line, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("RegisterLine(%q): %v", interp, err)
		}
		name, _, magic, mask, gotInterp, flags := kernelFields(t, line)
		if name != a.Entry() || !bytes.Equal(magic, a.Magic) || !bytes.Equal(mask, a.Mask) || gotInterp != interp || flags != Flags {
			t.Errorf("the kernel reads %q as name %q, interpreter %q, flags %q", line, name, gotInterp, flags)
		}
	}
	for _, interp := range []string{"", "/usr/bin/qemu\n:x:M::", "/a\x00b"} {
		if line, err := RegisterLine(a, interp, Flags); !errors.Is(err, ErrRegisterLine) {
			t.Errorf("interpreter %q: line %q, err %v; want ErrRegisterLine", interp, line, err)
		}
	}
	if _, err := RegisterLine(a, "/q", "POCFX"); !errors.Is(err, ErrRegisterLine) {
		t.Errorf("unknown flag accepted: %v", err)
	}
	if _, err := RegisterLine(a, "/"+strings.Repeat("q", 2000), Flags); !errors.Is(err, ErrRegisterLine) {
		t.Errorf("a line longer than the kernel takes accepted: %v", err)
	}
}

// TestEntryLineKeepsRestoredFieldsApart: an entry read from the kernel
// whose name or interpreter holds ':' is restored with another delimiter.
func TestEntryLineKeepsRestoredFieldsApart(t *testing.T) {
	e := Entry{Name: "arm:by-user", Enabled: true, Interpreter: "/opt/a:b/qemu", Flags: "OCF", Offset: 0,
		Magic: []byte{0x7f, ':', 'L'}, Mask: []byte{0xff, 0xff, 0xff}}
	line, err := e.line()
	if err != nil {
		t.Fatal(err)
	}
	name, offset, magic, mask, interp, flags := kernelFields(t, line)
	if name != e.Name || offset != "0" || !bytes.Equal(magic, e.Magic) || !bytes.Equal(mask, e.Mask) || interp != e.Interpreter || flags != "CF" {
		t.Errorf("restore line %q read back as %q %q %x %x %q %q", line, name, offset, magic, mask, interp, flags)
	}
	e.Name = "a/b"
	if _, err := e.line(); !errors.Is(err, ErrRegisterLine) {
		t.Errorf("an entry name with / accepted: %v", err)
	}
}

func FuzzRegisterLine(f *testing.F) {
	for _, s := range []string{"/usr/bin/qemu-aarch64-static", "/a:b", ":|#!,;@%+=~^", "\n", ""} {
		f.Add(s, "POCF")
	}
	a, _ := Lookup("riscv64")
	f.Fuzz(func(t *testing.T, interp, flags string) {
		line, err := RegisterLine(a, interp, flags)
		if err != nil {
			if !errors.Is(err, ErrRegisterLine) {
				t.Fatalf("error %v does not wrap ErrRegisterLine", err)
			}
			return
		}
		name, _, magic, mask, gotInterp, gotFlags := kernelFields(t, line)
		if name != a.Entry() || !bytes.Equal(magic, a.Magic) || !bytes.Equal(mask, a.Mask) || gotInterp != interp || gotFlags != flags {
			t.Fatalf("line %q is read back as %q %q %q", line, name, gotInterp, gotFlags)
		}
	})
}

// fifoRegister replaces root's register file with a FIFO that records
// what is written to it. The function it returns ends the recording and
// returns every byte written before, so that two writes of one line show
// as that line twice. The test holds a writer open meanwhile, so the
// reader never sees an end of file between two registrations.
func fifoRegister(t *testing.T, root string) func() string {
	t.Helper()
	reg := filepath.Join(root, "register")
	os.Remove(reg)
	if err := unix.Mkfifo(reg, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(reg, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(reg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(&buf, r)
	}()
	var once sync.Once
	finish := func() string {
		once.Do(func() {
			w.Close()
			<-done
			r.Close()
		})
		return buf.String()
	}
	t.Cleanup(func() { finish() })
	return finish
}

// staticQEMU writes a static ELF standing in for qemu-<arch>-static into
// a new folder and returns the folder and the file.
func staticQEMU(t *testing.T, a Arch) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	prog, err := ProbeProgram(a)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, a.Interpreter())
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// TestHostInstallWritesOneLinePerArchitecture: arm64 and aarch64 name
// one architecture: one register line, one outcome.
func TestHostInstallWritesOneLinePerArchitecture(t *testing.T) {
	arm64, _ := Lookup("arm64")
	aarch64, _ := Lookup("aarch64")
	if arm64.Native() {
		t.Skip("arm64 is native here")
	}
	dir, interp := staticQEMU(t, arm64)
	root := fakeRoot(t, nil)
	written := fifoRegister(t, root)
	out, err := Host{Root: root, QEMUDir: dir, IsRoot: asRoot}.Install(context.Background(), []Arch{arm64, aarch64})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Action != ActionInstalled {
		t.Errorf("outcomes %+v, want one installed", out)
	}
	if got, want := written(), mustLine(t, arm64, interp, Flags); got != want {
		t.Errorf("register got %q, want %q", got, want)
	}
}

// TestHostInstallRefusesDynamicQEMUWithF: a handler with every flag whose
// interpreter is dynamically linked is not "already installed": it fails
// inside containers.
func TestHostInstallRefusesDynamicQEMUWithF(t *testing.T) {
	riscv, _ := Lookup("riscv64")
	if riscv.Native() {
		t.Skip("riscv64 is native here")
	}
	self, err := os.Executable() // the test binary: dynamically linked?
	if err != nil {
		t.Fatal(err)
	}
	dynamic := ""
	for _, p := range []string{"/bin/true", "/usr/bin/true", self} {
		if st, err := IsStatic(p); err == nil && !st {
			dynamic = p
			break
		}
	}
	if dynamic == "" {
		t.Fatal("no dynamically linked ELF file found on this machine to stand in for QEMU")
	}
	entry := "enabled\ninterpreter " + dynamic + "\nflags: POCF\noffset 0\nmagic " +
		"7f454c460201010000000000000000000200f300\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	root := fakeRoot(t, map[string]string{"qemu-riscv64": entry})
	st, _ := Status(root)
	for _, s := range st {
		if s.Arch == "riscv64" && s.Ready() {
			t.Errorf("status calls a dynamic QEMU ready: %+v", s)
		}
	}
	_, err = Host{Root: root, IsRoot: asRoot}.Install(context.Background(), []Arch{riscv})
	var broken *BrokenHandlerError
	if !errors.As(err, &broken) || !strings.Contains(broken.Reason, "dynamically linked") {
		t.Fatalf("err = %v, want a *BrokenHandlerError saying it is dynamically linked", err)
	}
	dir, interp := staticQEMU(t, riscv)
	written := fifoRegister(t, root)
	out, err := Host{Root: root, QEMUDir: dir, Force: true, IsRoot: asRoot}.Install(context.Background(), []Arch{riscv})
	if err != nil || len(out) != 1 || out[0].Action != ActionReplaced {
		t.Fatalf("with Force: %+v, %v; want replaced", out, err)
	}
	if got := written(); got != mustLine(t, riscv, interp, Flags) {
		t.Errorf("register got %q", got)
	}
}

// TestHostInstallJoinsUndoErrors: when a registration fails and putting
// back the handler it replaced fails too, both are in the error.
func TestHostInstallJoinsUndoErrors(t *testing.T) {
	riscv, _ := Lookup("riscv64")
	if riscv.Native() {
		t.Skip("riscv64 is native here")
	}
	noF := "enabled\ninterpreter /usr/bin/qemu-riscv64-static\nflags: OC\noffset 0\nmagic " +
		"7f454c460201010000000000000000000200f300\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	root := fakeRoot(t, map[string]string{"qemu-riscv64": noF})
	// A register that cannot be opened for writing: every registration fails.
	os.Remove(filepath.Join(root, "register"))
	if err := os.Mkdir(filepath.Join(root, "register"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir, _ := staticQEMU(t, riscv)
	_, err := Host{Root: root, QEMUDir: dir, Force: true, IsRoot: asRoot}.Install(context.Background(), []Arch{riscv})
	if err == nil || !strings.Contains(err.Error(), "riscv64: opening binfmt_misc register") || !strings.Contains(err.Error(), "restoring qemu-riscv64") {
		t.Errorf("err = %v, want the failed registration and the failed restore", err)
	}
}
