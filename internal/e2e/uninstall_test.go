package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mab-build/mab/emulation"
	"github.com/mab-build/mab/internal/testenv"
)

// TestEmulationUninstallHandlerOfAnotherName: README's "`uninstall ARCH...`
// removes the handler that serves each named architecture" holds for the
// host installer whatever the handler's name; the Docker installer finds
// handlers by name only (the installer image cannot read an entry's
// magic), so it fails saying which architecture is still run and by which
// entries, naming the host installer, instead of exiting 0.
func TestEmulationUninstallHandlerOfAnotherName(t *testing.T) {
	e := testenv.Get(t)
	a := keepRiscv64(t)
	image := e.InstallerImage(t, "riscv64")
	withDocker := func(c *exec.Cmd) { c.Env = append(c.Env, "DOCKER_HOST="+e.DockerHost) }

	registerAs := func(name string) {
		t.Helper()
		line, err := emulation.RegisterLine(a, "/usr/bin/qemu-riscv64-static", emulation.Flags)
		if err != nil {
			t.Fatal(err)
		}
		line = ":" + name + strings.TrimPrefix(line, ":"+a.Entry())
		if err := os.WriteFile(filepath.Join(emulation.DefaultRoot, "register"), []byte(line), 0); err != nil {
			t.Fatalf("registering %s: %v", name, err)
		}
	}

	registerAs("riscv64-by-hand")
	r := e.RunWith(t, withDocker, "emulation", "uninstall", "--via", "docker", "--image", image, "riscv64")
	assertRefused(t, r, "the Docker daemon's kernel still runs riscv64")
	for _, want := range []string{"riscv64-by-hand", "`sudo mab emulation uninstall --via host riscv64`"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("error lacks %q: %s", want, r.Stderr)
		}
	}
	if got, ok := riscv64Entry(t); !ok || got.Name != "riscv64-by-hand" {
		t.Fatalf("riscv64 entry after the refused docker uninstall = %+v, %v; want riscv64-by-hand left", got, ok)
	}

	r = e.Run(t, "emulation", "uninstall", "--via", "host", "riscv64")
	if r.ExitCode != 0 || !strings.Contains(r.Stderr, "riscv64-by-hand") {
		t.Fatalf("host uninstall exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	if got, ok := riscv64Entry(t); ok {
		t.Errorf("riscv64 still served by %s after the host uninstall", got.Name)
	}
}
