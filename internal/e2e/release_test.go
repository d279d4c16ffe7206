package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/testenv"
	spdxjson "github.com/spdx/tools-golang/json"
)

// releasePlatforms are what the release tests build: the host's, for the
// install paths, and the two that run under the environment's QEMU
// handlers. `make release` builds all seven the same way.
var releasePlatforms = []struct {
	platform, archive string
	machine           elf.Machine
}{
	{"linux/amd64", "mab-linux-amd64.tar.gz", elf.EM_X86_64},
	{"linux/arm64", "mab-linux-arm64.tar.gz", elf.EM_AARCH64},
	{"linux/arm/v7", "mab-linux-armv7.tar.gz", elf.EM_ARM},
}

// TestRelease runs the program behind `make release` for three platforms
// and checks what it writes: the archives and their contents, checksums
// that sha256sum verifies, an SBOM that the SPDX library reads, static
// binaries whose `mab version` (run under QEMU for arm64 and arm/v7) names
// their platform and the commit of this tree, and the install paths of
// README and action.yml against that folder.
func TestRelease(t *testing.T) {
	e := testenv.Get(t)
	var names []string
	for _, p := range releasePlatforms {
		names = append(names, p.platform)
	}
	commit := gitOut(t, e.Root, "rev-parse", "HEAD")
	version := gitOut(t, e.Root, "describe", "--tags", "--always", "--dirty")
	dist := filepath.Join(t.TempDir(), "dist")
	cmd := exec.Command("go", "run", "./internal/release", "-o", dist, "-platforms", strings.Join(names, ","))
	cmd.Dir = e.Root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release: %v\n%s", err, out)
	}
	if now := gitOut(t, e.Root, "describe", "--tags", "--always", "--dirty"); now != version {
		t.Fatalf("the tree changed while the release was built (%s, then %s): run the test again on a tree nobody edits", version, now)
	}

	t.Run("files and checksums", func(t *testing.T) {
		entries, err := os.ReadDir(dist)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
		}
		want := []string{"checksums.txt", "mab-linux-amd64.tar.gz", "mab-linux-arm64.tar.gz", "mab-linux-armv7.tar.gz", "mab.spdx.json"}
		if !slices.Equal(got, want) {
			t.Errorf("dist holds %v, want %v", got, want)
		}
		check := exec.Command("sha256sum", "--strict", "-c", "checksums.txt")
		check.Dir = dist
		out, err := check.CombinedOutput()
		if err != nil {
			t.Fatalf("sha256sum -c: %v\n%s", err, out)
		}
		for _, name := range want[1:] {
			if !strings.Contains(string(out), name+": OK") {
				t.Errorf("sha256sum did not check %s:\n%s", name, out)
			}
		}
	})

	t.Run("SBOM", func(t *testing.T) {
		f, err := os.Open(filepath.Join(dist, "mab.spdx.json"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		doc, err := spdxjson.Read(f)
		if err != nil {
			t.Fatalf("the SPDX library does not read the SBOM: %v", err)
		}
		bk := testenv.ModVersion(t, "github.com/moby/buildkit")
		var found []string
		for _, p := range doc.Packages {
			switch p.PackageName {
			case "github.com/moby/buildkit":
				found = append(found, "buildkit "+p.PackageVersion)
				if p.PackageVersion != bk || len(p.PackageExternalReferences) != 1 || p.PackageExternalReferences[0].Locator != "pkg:golang/github.com/moby/buildkit@"+bk {
					t.Errorf("buildkit package %+v, want version %s (go.mod's) and its purl", p, bk)
				}
			case "github.com/mab-build/mab":
				found = append(found, "mab "+p.PackageVersion)
				if p.PackageVersion != version || p.PackageLicenseDeclared != "Apache-2.0" {
					t.Errorf("mab package at %s, licence %s; want %s, Apache-2.0", p.PackageVersion, p.PackageLicenseDeclared, version)
				}
			}
		}
		if len(found) != 2 {
			t.Errorf("SBOM packages for mab and buildkit: %v", found)
		}
	})

	for _, p := range releasePlatforms {
		t.Run(p.platform, func(t *testing.T) {
			dir := t.TempDir()
			top := strings.TrimSuffix(p.archive, ".tar.gz")
			files := untarGz(t, filepath.Join(dist, p.archive), dir)
			if want := []string{top + "/", top + "/LICENSE", top + "/README.md", top + "/mab"}; !slices.Equal(files, want) {
				t.Errorf("%s holds %v, want %v", p.archive, files, want)
			}
			for _, doc := range []string{"README.md", "LICENSE"} {
				a, _ := os.ReadFile(filepath.Join(e.Root, doc))
				b, _ := os.ReadFile(filepath.Join(dir, top, doc))
				if len(a) == 0 || !bytes.Equal(a, b) {
					t.Errorf("%s in %s is not the repository's", doc, p.archive)
				}
			}
			bin := filepath.Join(dir, top, "mab")
			assertStaticELF(t, bin, p.machine)
			// arm64 and arm/v7 run through the binfmt_misc handlers: the
			// same exec, emulated by QEMU.
			out, err := exec.Command(bin, "version", "--format", "json").Output()
			if err != nil {
				t.Fatalf("%s version --format json: %v", p.platform, err)
			}
			var v map[string]string
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if v["platform"] != p.platform || v["commit"] != commit || v["version"] != version || v["buildkit"] != testenv.ModVersion(t, "github.com/moby/buildkit") || v["date"] == "" {
				t.Errorf("mab version on %s: %s\nwant platform %s, commit %s, version %s", p.platform, out, p.platform, commit, version)
			}
			text, err := exec.Command(bin, "version").Output()
			if err != nil || !strings.Contains(string(text), "platform:  "+p.platform+"\n") || !strings.Contains(string(text), "commit:    "+commit+"\n") {
				t.Errorf("mab version (%v):\n%s", err, text)
			}
		})
	}

	t.Run("install from README", func(t *testing.T) { testReadmeInstall(t, e, dist, version) })
	t.Run("GitLab template", func(t *testing.T) { testGitLabInstall(t, e, dist, version) })
	var mab string
	keep := t.TempDir()
	t.Run("action install", func(t *testing.T) { mab = testActionInstall(t, dist, version, keep) })
	t.Run("action build and merge", func(t *testing.T) {
		if mab == "" {
			t.Fatal("the action's install step failed")
		}
		testActionRun(t, e, mab)
	})
}

// TestReadmeGoInstall runs README's `go install` line.
func TestReadmeGoInstall(t *testing.T) {
	testGoInstall(t, testenv.Get(t))
}

// assertStaticELF checks that bin is an executable for machine with no
// program interpreter: static, as CGO_ENABLED=0 makes it.
func assertStaticELF(t *testing.T, bin string, machine elf.Machine) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != machine {
		t.Errorf("%s is for %v, want %v", bin, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: not static", bin)
		}
	}
}

// untar extracts a tar.gz into dir and returns its entry names, sorted.
func untarGz(t *testing.T, archive, dir string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		dest := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dest, b, os.FileMode(h.Mode)); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(names)
	return names
}

func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}
