// Command binfmt is the test stand-in for the tonistiigi/binfmt image: the
// same arguments (--install a,b|all, --uninstall name,...), the same
// "installing: <arch> OK" lines on stderr and the same
// {"supported": [...], "emulators": [...]} on stdout. The end-to-end tests
// put it, with Debian's static QEMU, in an image that mab's Docker installer
// runs with --image, because no public registry is reachable here.
//
// It registers through mab's own emulation package, so what it tests is
// the Docker path (API, privileges, mount inside the container, report),
// not a second installer.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/mab-build/mab/emulation"
	"golang.org/x/sys/unix"
)

func main() {
	log.SetFlags(0)
	mount := flag.String("mount", emulation.DefaultRoot, "binfmt_misc mount point")
	install := flag.String("install", "", "architectures to install")
	uninstall := flag.String("uninstall", "", "entries to uninstall")
	flag.Parse()
	if err := run(*mount, *install, *uninstall); err != nil {
		log.Printf("error: %v", err)
	}
}

func run(mount, install, uninstall string) error {
	if !emulation.Mounted(mount) {
		if err := unix.Mount("binfmt_misc", mount, "binfmt_misc", 0, ""); err != nil {
			return fmt.Errorf("cannot mount binfmt_misc filesystem at %s: %w", mount, err)
		}
		defer unix.Unmount(mount, 0)
	}
	for _, name := range split(uninstall) {
		err := os.WriteFile(filepath.Join(mount, name), []byte("-1"), 0)
		log.Printf("uninstalling: %s %s", name, result(err))
	}
	names := split(install)
	if install == "all" {
		names = emulation.Names()
	}
	for _, name := range names {
		a, err := emulation.Lookup(name)
		if err == nil {
			var out []emulation.Outcome
			out, err = emulation.Host{Root: mount, QEMUDir: "/usr/bin"}.Install(context.Background(), []emulation.Arch{a})
			if err == nil && out[0].Action == emulation.ActionAlreadyInstalled {
				err = fmt.Errorf("%s already registered", a.Entry())
			}
		}
		log.Printf("installing: %s %s", name, result(err))
	}
	return printStatus(mount)
}

func printStatus(mount string) error {
	st, err := emulation.Status(mount)
	if err != nil {
		return err
	}
	emulation.ProbeAll(context.Background(), st)
	out := struct {
		Supported []string `json:"supported"`
		Emulators []string `json:"emulators"`
	}{Supported: []string{}, Emulators: []string{}}
	for _, s := range st {
		if s.Works {
			a, _ := emulation.Lookup(s.Arch)
			out.Supported = append(out.Supported, a.Platforms...)
		}
	}
	entries, err := emulation.Entries(mount)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Enabled {
			out.Emulators = append(out.Emulators, e.Name)
		}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	fmt.Printf("%s\n", b)
	return nil
}

func result(err error) string {
	if err == nil {
		return "OK"
	}
	return err.Error()
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
