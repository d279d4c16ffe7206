package emulation

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const aarch64Entry = `enabled
interpreter /usr/bin/qemu-aarch64-static
flags: OCF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`

func TestParseEntry(t *testing.T) {
	e, err := ParseEntry("qemu-aarch64", []byte(aarch64Entry))
	if err != nil {
		t.Fatal(err)
	}
	if !e.Enabled || e.Interpreter != "/usr/bin/qemu-aarch64-static" || e.Flags != "OCF" || !e.FixBinary() || e.Offset != 0 {
		t.Errorf("entry = %+v", e)
	}
	arm64, _ := Lookup("arm64")
	arm, _ := Lookup("arm")
	if !e.Serves(arm64) || e.Serves(arm) {
		t.Errorf("entry serves arm64 %v (want true), arm %v (want false)", e.Serves(arm64), e.Serves(arm))
	}

	disabled := strings.Replace(strings.Replace(aarch64Entry, "enabled", "disabled", 1), "flags: OCF", "flags: ", 1)
	e, err = ParseEntry("qemu-aarch64", []byte(disabled))
	if err != nil {
		t.Fatal(err)
	}
	if e.Enabled || e.FixBinary() || e.Flags != "" {
		t.Errorf("disabled entry without flags = %+v", e)
	}

	if _, err := ParseEntry("x", []byte("bogus\n")); err == nil {
		t.Error("an entry with an unknown state line was accepted")
	}
	if _, err := ParseEntry("x", []byte("enabled\nmagic zz\n")); err == nil {
		t.Error("an entry with a magic that is not hex was accepted")
	}
}

func TestRegisterLine(t *testing.T) {
	a, _ := Lookup("aarch64")
	got, err := RegisterLine(a, "/usr/bin/qemu-aarch64-static", Flags)
	if err != nil {
		t.Fatal(err)
	}
	want := `:qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:POCF`
	if got != want {
		t.Errorf("register line\n got %s\nwant %s", got, want)
	}
}

func TestLookup(t *testing.T) {
	for in, want := range map[string]string{
		"arm64": "arm64", "aarch64": "arm64", "linux/arm64": "arm64",
		"arm": "arm", "linux/arm/v7": "arm", "arm/v6": "arm",
		"riscv64": "riscv64", "x86_64": "amd64", "loongarch64": "loong64", "mips64el": "mips64le",
	} {
		a, err := Lookup(in)
		if err != nil || a.Name != want {
			t.Errorf("Lookup(%q) = %s, %v; want %s", in, a.Name, err, want)
		}
	}
	_, err := Lookup("sparc99")
	if err == nil || !strings.Contains(err.Error(), "known: amd64, 386, arm64") {
		t.Errorf("unknown arch: err = %v, want the list of known ones", err)
	}
}

// fakeRoot makes a binfmt_misc-like folder with the given entries.
func fakeRoot(t *testing.T, entries map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"register": "", "status": "enabled\n"}
	for k, v := range entries {
		files[k] = v
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestStatusFromEntries(t *testing.T) {
	interp := filepath.Join(t.TempDir(), "qemu-arm-static")
	if err := os.WriteFile(interp, []byte("not an ELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	armEntry := "enabled\ninterpreter " + interp + "\nflags: OC\noffset 0\n" +
		"magic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	root := fakeRoot(t, map[string]string{
		"qemu-aarch64": strings.Replace(aarch64Entry, "/usr/bin/qemu-aarch64-static", "/nonexistent/qemu-aarch64-static", 1),
		"arm-by-other": armEntry,
		"python3.11":   "enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 0\nmagic a70d0d0a\n",
	})
	st, err := Status(root)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]ArchStatus{}
	for _, s := range st {
		by[s.Arch] = s
	}
	if len(st) != len(Arches) {
		t.Fatalf("%d rows, want one per known architecture", len(st))
	}
	a := by["arm64"]
	if !a.Registered || !a.Enabled || !a.FixBinary || a.InterpreterExists || a.Entry != "qemu-aarch64" {
		t.Errorf("arm64 = %+v: want registered with F and a missing interpreter", a)
	}
	r := by["arm"]
	if !r.Registered || r.Entry != "arm-by-other" || r.FixBinary || !r.InterpreterExists || r.Ready() {
		t.Errorf("arm = %+v: want found under another name, without F, not ready", r)
	}
	if by["riscv64"].Registered {
		t.Errorf("riscv64 registered in a root that has no entry for it")
	}
}

func TestStatusWhenNotMounted(t *testing.T) {
	st, err := Status(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Registered {
			t.Errorf("%s registered although binfmt_misc is not mounted", s.Arch)
		}
	}
}

func TestEntryLineRecreatesTheEntry(t *testing.T) {
	e, err := ParseEntry("qemu-aarch64", []byte(aarch64Entry))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Lookup("arm64")
	want := strings.Replace(mustLine(t, a, "/usr/bin/qemu-aarch64-static", "CF"), "M::", "M:0:", 1)
	if got, err := e.line(); err != nil || got != want {
		t.Errorf("Line\n got %s\nwant %s", got, want)
	}
	p, _ := ParseEntry("x", []byte("enabled\ninterpreter /i\nflags: PO\noffset 0\nmagic 7f\nmask ff\n"))
	if got, _ := p.line(); !strings.HasSuffix(got, ":/i:PO") {
		t.Errorf("P and O without C: %s", got)
	}
}

// asRoot lets the installer's logic run on a fake root without privileges.
func asRoot() bool { return true }

func TestUninstallAllLeavesOthersHandlers(t *testing.T) {
	root := fakeRoot(t, map[string]string{
		"qemu-aarch64":      aarch64Entry,
		"riscv64-by-distro": "enabled\ninterpreter /usr/bin/qemu-riscv64\nflags: \noffset 0\nmagic 7f454c460201010000000000000000000200f300\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
	})
	arm64, _ := Lookup("arm64")
	riscv, _ := Lookup("riscv64")
	h := Host{Root: root, IsRoot: asRoot}
	removed, err := h.Uninstall(context.Background(), []Arch{arm64, riscv}, true)
	if err != nil || len(removed) != 1 || removed[0] != (Outcome{Arch: "arm64", Action: ActionRemoved, Entry: "qemu-aarch64"}) {
		t.Errorf("ownOnly removed %+v, %v; want only qemu-aarch64", removed, err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "qemu-aarch64")); string(b) != "-1" {
		t.Errorf("qemu-aarch64 holds %q, want -1 written to it", b)
	}
	os.Remove(filepath.Join(root, "qemu-aarch64")) // as the kernel does on "-1"
	removed, err = h.Uninstall(context.Background(), []Arch{riscv}, false)
	if err != nil || len(removed) != 1 || removed[0].Entry != "riscv64-by-distro" {
		t.Errorf("named riscv64 removed %+v, %v; want riscv64-by-distro", removed, err)
	}
}

func TestInstallRefusalsWriteNothing(t *testing.T) {
	root := fakeRoot(t, nil)
	riscv, _ := Lookup("riscv64")
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	_, err := Host{Root: root, QEMUDir: dir, IsRoot: asRoot}.Install(context.Background(), []Arch{riscv})
	if !errors.Is(err, ErrNoInterpreter) || !strings.Contains(err.Error(), "qemu-riscv64-static not found in "+dir+" or PATH") || !strings.Contains(err.Error(), "Fedora's qemu-user-static-riscv64") {
		t.Errorf("missing QEMU: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "register")); len(b) != 0 {
		t.Errorf("register written after a refusal: %q", b)
	}
	noF := strings.Replace(aarch64Entry, "flags: OCF", "flags: OC", 1)
	root = fakeRoot(t, map[string]string{"qemu-aarch64": noF})
	arm64, _ := Lookup("arm64")
	_, err = Host{Root: root, IsRoot: asRoot}.Install(context.Background(), []Arch{arm64})
	var broken *BrokenHandlerError
	if !errors.As(err, &broken) || broken.Arch != "arm64" || broken.Entry != "qemu-aarch64" || !strings.Contains(broken.Reason, "without the F flag") {
		t.Errorf("handler without F: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "register")); len(b) != 0 {
		t.Errorf("register written after a refusal: %q", b)
	}
}

func TestHostNeedsRoot(t *testing.T) {
	riscv, _ := Lookup("riscv64")
	notRoot := func() bool { return false }
	root := fakeRoot(t, nil)
	_, err := Host{Root: root, IsRoot: notRoot}.Install(context.Background(), []Arch{riscv})
	if !errors.Is(err, ErrNeedRoot) || err.Error() != "installing binfmt handlers needs root" {
		t.Errorf("install: %v", err)
	}
	_, err = Host{Root: root, IsRoot: notRoot}.Uninstall(context.Background(), []Arch{riscv}, false)
	if !errors.Is(err, ErrNeedRoot) {
		t.Errorf("uninstall: %v", err)
	}
}

// TestHostInstallRegistersStaticInterpreter installs riscv64 on a fake
// binfmt_misc with a static ELF file standing in for QEMU, then again
// once the kernel (here: the test) shows the entry.
func TestHostInstallRegistersStaticInterpreter(t *testing.T) {
	riscv, _ := Lookup("riscv64")
	if riscv.Native() {
		t.Skip("riscv64 is native here")
	}
	dir := t.TempDir()
	prog, err := ProbeProgram(riscv) // static: no PT_INTERP
	if err != nil {
		t.Fatal(err)
	}
	interp := filepath.Join(dir, riscv.Interpreter())
	if err := os.WriteFile(interp, prog, 0o755); err != nil {
		t.Fatal(err)
	}
	root := fakeRoot(t, nil)
	h := Host{Root: root, QEMUDir: dir, IsRoot: asRoot}
	out, err := h.Install(context.Background(), []Arch{riscv})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Outcome{Arch: "riscv64", Action: ActionInstalled, Entry: "qemu-riscv64", Interpreter: interp}); len(out) != 1 || out[0] != want {
		t.Errorf("outcomes %+v, want [%+v]", out, want)
	}
	b, _ := os.ReadFile(filepath.Join(root, "register"))
	if string(b) != mustLine(t, riscv, interp, Flags) {
		t.Errorf("register got %q", b)
	}
	entry := "enabled\ninterpreter " + interp + "\nflags: POCF\noffset 0\nmagic " +
		"7f454c460201010000000000000000000200f300\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
	if err := os.WriteFile(filepath.Join(root, "qemu-riscv64"), []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = h.Install(context.Background(), []Arch{riscv})
	if err != nil || len(out) != 1 || out[0].Action != ActionAlreadyInstalled || out[0].Action.Changed() {
		t.Errorf("second install: %+v, %v", out, err)
	}
}
