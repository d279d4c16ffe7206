package emulation

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestProbeProgramsRunUnderQEMU runs every probe program directly under
// its qemu-<arch>-static (no binfmt_misc involved) and checks that it exits
// with the probe's status: the hand-assembled machine code is right.
func TestProbeProgramsRunUnderQEMU(t *testing.T) {
	dir := t.TempDir()
	for _, a := range Arches {
		t.Run(a.Name, func(t *testing.T) {
			prog, err := ProbeProgram(a)
			if err != nil {
				t.Fatal(err)
			}
			if !a.Matches(prog) {
				t.Fatalf("the table's magic does not select the %s probe", a.Name)
			}
			for _, other := range Arches {
				if other.Name != a.Name && other.Matches(prog) {
					t.Errorf("%s's magic also selects the %s probe", other.Name, a.Name)
				}
			}
			path := filepath.Join(dir, a.Name)
			if err := os.WriteFile(path, prog, 0o755); err != nil {
				t.Fatal(err)
			}
			qemu, err := exec.LookPath(a.Interpreter())
			if err != nil {
				if testing.Short() {
					t.Skipf("%s not installed", a.Interpreter())
				}
				t.Fatalf("%s not installed (Debian's qemu-user-static): %v", a.Interpreter(), err)
			}
			err = exec.Command(qemu, path).Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != probeExit {
				t.Errorf("%s probe under %s: %v, want exit status %d", a.Name, qemu, err, probeExit)
			}
		})
	}
}

func TestProbeNative(t *testing.T) {
	for _, a := range Arches {
		if a.Name == "amd64" && a.Native() || a.Name == "arm64" && a.Native() {
			if err := Probe(context.Background(), a); err != nil {
				t.Errorf("native %s probe: %v", a.Name, err)
			}
		}
	}
}
