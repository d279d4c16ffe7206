package emulation

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestArchTableMatchesRealELFHeaders cross-compiles a tiny program for
// every architecture of the table and checks that the table's magic and
// mask select exactly that architecture's executable.
func TestArchTableMatchesRealELFHeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles for every architecture; skipped by -short")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	headers := map[string][]byte{}
	for _, a := range Arches {
		out := filepath.Join(dir, a.Name)
		cmd := exec.Command("go", "build", "-o", out, src)
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+a.Name, "CGO_ENABLED=0", "GO111MODULE=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cross-compiling for %s: %v\n%s", a.Name, err, b)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		hdr := make([]byte, 20)
		_, err = f.Read(hdr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		headers[a.Name] = hdr
	}
	for _, a := range Arches {
		for name, hdr := range headers {
			if got, want := a.Matches(hdr), name == a.Name; got != want {
				t.Errorf("%s's magic matches the %s executable: %v, want %v", a.Name, name, got, want)
			}
		}
	}
}

func TestIsStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two programs; skipped by -short")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nimport \"os/user\"\nfunc main() { user.Current() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(out string, cgo string) string {
		p := filepath.Join(dir, out)
		cmd := exec.Command("go", "build", "-o", p, src)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GO111MODULE=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building: %v\n%s", err, b)
		}
		return p
	}
	if ok, err := IsStatic(build("static", "0")); err != nil || !ok {
		t.Errorf("CGO_ENABLED=0 program: static %v, %v", ok, err)
	}
	if ok, err := IsStatic(build("dynamic", "1")); err != nil || ok {
		t.Errorf("cgo program: static %v, %v; want dynamic", ok, err)
	}
}
