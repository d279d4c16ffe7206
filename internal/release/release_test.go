package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
)

func TestParseTargetsRefusesUnknownAndTwice(t *testing.T) {
	ts, err := parseTargets("linux/arm64, linux/arm/v7")
	if err != nil || len(ts) != 2 || ts[1].Archive() != "mab-linux-armv7.tar.gz" || ts[0].Binary() != "mab" {
		t.Fatalf("%v, %v", ts, err)
	}
	if w := (target{"windows", "amd64", ""}); w.Archive() != "mab-windows-amd64.zip" || w.Binary() != "mab.exe" {
		t.Errorf("windows: %s, %s", w.Archive(), w.Binary())
	}
	for in, want := range map[string]string{
		"linux/s390x":             `platform "linux/s390x" is not one of the release's`,
		"linux/arm64,linux/arm64": `platform "linux/arm64" is listed twice`,
		"":                        `platform "" is not one of the release's`,
	} {
		if _, err := parseTargets(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

// TestArchivesAreReproducible: the same files and date give the same
// bytes, and the archive holds the files under one top folder with their
// modes.
func TestArchivesAreReproducible(t *testing.T) {
	dir := t.TempDir()
	files := []archiveFile{{Name: "mab", Path: write(t, dir, "bin", "#!binary"), Mode: 0o755}, {Name: "README.md", Path: write(t, dir, "r", "# mab"), Mode: 0o644}}
	date := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	for _, ext := range []string{".tar.gz", ".zip"} {
		a, b := filepath.Join(dir, "a"+ext), filepath.Join(dir, "b"+ext)
		for _, p := range []string{a, b} {
			if err := writeArchive(p, "mab-linux-arm64", files, date); err != nil {
				t.Fatal(err)
			}
		}
		ba, _ := os.ReadFile(a)
		bb, _ := os.ReadFile(b)
		if !bytes.Equal(ba, bb) {
			t.Errorf("%s: two archives of the same files differ", ext)
		}
		got := map[string]os.FileMode{}
		if ext == ".zip" {
			zr, err := zip.NewReader(bytes.NewReader(ba), int64(len(ba)))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range zr.File {
				got[f.Name] = f.Mode().Perm()
				if !f.Modified.Equal(date) {
					t.Errorf("%s: time %v", f.Name, f.Modified)
				}
			}
		} else {
			gz, err := gzip.NewReader(bytes.NewReader(ba))
			if err != nil {
				t.Fatal(err)
			}
			tr := tar.NewReader(gz)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got[h.Name] = os.FileMode(h.Mode).Perm()
				if !h.ModTime.Equal(date) || h.Uid != 0 || h.Uname != "" {
					t.Errorf("%s: time %v, owner %d %q", h.Name, h.ModTime, h.Uid, h.Uname)
				}
			}
		}
		want := map[string]os.FileMode{"mab-linux-arm64/": 0o755, "mab-linux-arm64/mab": 0o755, "mab-linux-arm64/README.md": 0o644}
		if len(got) != len(want) {
			t.Errorf("%s holds %v, want %v", ext, got, want)
		}
		for name, mode := range want {
			if got[name] != mode {
				t.Errorf("%s: %s has mode %v, want %v", ext, name, got[name], mode)
			}
		}
	}
}

// TestChecksumsAreWhatSha256sumChecks: sha256sum -c accepts the file, and
// refuses it once an archive changes.
func TestChecksumsAreWhatSha256sumChecks(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "mab-linux-amd64.tar.gz", "one")
	write(t, dir, "mab.spdx.json", "{}")
	if err := writeChecksums(dir); err != nil {
		t.Fatal(err)
	}
	sums, _ := os.ReadFile(filepath.Join(dir, checksumsName))
	want := "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed  mab-linux-amd64.tar.gz\n" +
		"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a  mab.spdx.json\n"
	if string(sums) != want {
		t.Errorf("checksums.txt:\n%s\nwant:\n%s", sums, want)
	}
	check := exec.Command("sha256sum", "-c", checksumsName)
	check.Dir = dir
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	write(t, dir, "mab-linux-amd64.tar.gz", "two")
	check = exec.Command("sha256sum", "-c", checksumsName)
	check.Dir = dir
	if out, err := check.CombinedOutput(); err == nil || !strings.Contains(string(out), "mab-linux-amd64.tar.gz: FAILED") {
		t.Errorf("sha256sum -c accepted a changed archive (%v):\n%s", err, out)
	}
}

// TestStampFromGit: git's description of the tree, -dirty once a tracked
// file changes, and the date from the commit, SOURCE_DATE_EPOCH, or now.
func TestStampFromGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is not installed; the release needs it")
	}
	ctx := context.Background()
	dir := t.TempDir()
	gitIn := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			"GIT_COMMITTER_DATE=2026-01-02T03:04:05Z", "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	gitIn("init", "-q")
	write(t, dir, "f", "1")
	gitIn("add", "f")
	gitIn("commit", "-qm", "one")
	head := gitIn("rev-parse", "HEAD")
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	t.Setenv("SOURCE_DATE_EPOCH", "")

	s, err := stampFromGit(ctx, dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != head[:7] || s.Commit != head || !s.Date.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("clean: %+v, want version %s, the commit's date", s, head[:7])
	}
	gitIn("tag", "v1.2.3")
	if s, _ := stampFromGit(ctx, dir, now); s.Version != "v1.2.3" {
		t.Errorf("tagged: %q", s.Version)
	}
	write(t, dir, "f", "2")
	s, err = stampFromGit(ctx, dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != "v1.2.3-dirty" || s.Commit != head || !s.Date.Equal(now) {
		t.Errorf("dirty: %+v, want v1.2.3-dirty dated now", s)
	}
	if !strings.Contains(s.ldflags(), "-X main.version=v1.2.3-dirty -X main.commit="+head+" -X main.date=2026-11-23T12:00:00Z") {
		t.Errorf("ldflags %q", s.ldflags())
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if s, _ := stampFromGit(ctx, dir, now); !s.Date.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("SOURCE_DATE_EPOCH: %v", s.Date)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := stampFromGit(ctx, dir, now); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("SOURCE_DATE_EPOCH=yesterday: %v", err)
	}
	if _, err := stampFromGit(ctx, t.TempDir(), now); err == nil || !strings.Contains(err.Error(), "git describe") {
		t.Errorf("outside a checkout: %v", err)
	}
}

// TestSBOMListsTheLinkedModules: the SBOM of a binary (this test's own)
// names its modules at the versions linked, and reads back with the SPDX
// library.
func TestSBOMListsTheLinkedModules(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s := stamp{Version: "v1.2.3", Commit: "abc", Date: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}
	doc, err := sbom(s, []string{exe, exe})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), sbomName)
	if err := writeSBOM(path, doc); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := spdxjson.Read(f)
	if err != nil {
		t.Fatalf("the SPDX library cannot read the SBOM back: %v", err)
	}
	versions := map[string]string{}
	for _, p := range back.Packages {
		versions[p.PackageName] = p.PackageVersion
	}
	want := map[string]string{"github.com/mab-build/mab": "v1.2.3", "github.com/spdx/tools-golang": "v0.5.7", "stdlib": back.Packages[len(back.Packages)-1].PackageVersion}
	for name, v := range want {
		if versions[name] != v || v == "" {
			t.Errorf("package %s at %q, want %q (all: %v)", name, versions[name], v, versions)
		}
	}
	if len(back.Relationships) != len(back.Packages) || back.Relationships[0].Relationship != "DESCRIBES" {
		t.Errorf("%d relationships for %d packages; first %+v", len(back.Relationships), len(back.Packages), back.Relationships[0])
	}
}

func TestCheckOutRefusesAFolderWithFiles(t *testing.T) {
	dir := t.TempDir()
	if err := checkOut(dir); err != nil {
		t.Errorf("empty folder: %v", err)
	}
	if err := checkOut(filepath.Join(dir, "new")); err != nil {
		t.Errorf("missing folder: %v", err)
	}
	write(t, dir, "keep", "x")
	if err := checkOut(dir); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("folder with a file: %v", err)
	}
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
