package internal_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxTracked is the largest file the repository may track: anything
// bigger is a build output or data that belongs elsewhere.
const maxTracked = 1 << 20

// TestOnlySourceIsTracked fails when git tracks an ELF binary or a file
// over 1 MiB: `go build` in a command's folder leaves its binary behind,
// and it is easy to commit by accident.
func TestOnlySourceIsTracked(t *testing.T) {
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v (the check needs the git checkout)", err)
	}
	root := strings.TrimSpace(string(top))
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	if len(files) < 10 {
		t.Fatalf("git ls-files lists %d files: not mab's checkout", len(files))
	}
	for _, f := range files {
		path := filepath.Join(root, f)
		st, err := os.Lstat(path)
		if err != nil {
			continue // deleted in the work tree, not yet committed
		}
		if !st.Mode().IsRegular() {
			continue
		}
		if st.Size() > maxTracked {
			t.Errorf("%s is tracked and has %d bytes (limit %d)", f, st.Size(), maxTracked)
		}
		if isELF(t, path) {
			t.Errorf("%s is tracked and is an ELF binary: remove it and cover it in .gitignore", f)
		}
	}
}

func isELF(t *testing.T, path string) bool {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := f.Read(head)
	return bytes.Equal(head[:n], []byte("\x7fELF"))
}
