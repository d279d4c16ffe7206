package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/pipeline"
)

func TestBuildOutputRefusesBadInputBeforeDialling(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "old.tar")
	os.WriteFile(existing, []byte("old"), 0o644)
	const noBuilder = "unix:///nonexistent/buildkitd.sock"
	tarAt := "type=oci,dest=" + filepath.Join(dir, "app.tar")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown type", []string{"--output", "type=registry,dest=x"}, "unknown type \"registry\""},
		{"unknown key", []string{"--output", tarAt + ",compression=zstd"}, "unknown key \"compression\""},
		{"no type", []string{"--output", "dest=x.tar"}, "no type"},
		{"no dest", []string{"--output", "type=oci"}, "no dest"},
		{"bad tar", []string{"--output", tarAt + ",tar=maybe"}, "tar=\"maybe\""},
		{"not key=value", []string{"--output", "oci"}, "want type=oci,dest=PATH"},
		{"existing file", []string{"--output", "type=oci,dest=" + existing}, "exists (--force replaces it)"},
		{"missing folder", []string{"--output", "type=oci,dest=" + filepath.Join(dir, "no", "app.tar")}, "no such file or directory"},
		{"unwritable folder", []string{"--output", "type=oci,dest=/proc/app.tar"}, "cannot create a file in /proc"},
		{"a file for a layout folder", []string{"--output", "type=oci,tar=false,dest=" + existing, "--force"}, "is not a directory"},
		{"push by digest", []string{"--output", tarAt, "--push-by-digest"}, "--push-by-digest is about pushing"},
		{"no merge", []string{"--output", tarAt, "--no-merge"}, "--no-merge is about pushing"},
		{"suffix", []string{"--output", tarAt, "--suffix", "{{.Arch}}"}, "--suffix is about pushing"},
		{"two tags", []string{"--output", tarAt, "-t", "app:1", "-t", "app:2"}, "give one -t"},
		{"docker builder", []string{"--output", tarAt, "--builder", "docker"}, "a Docker daemon's BuildKit keeps images"},
		{"force alone", []string{"-t", "r/app:1", "--force"}, "give --output too"},
		{"load platform alone", []string{"-t", "r/app:1", "--load-platform", "linux/amd64"}, "add --load"},
		{"load platform not built", []string{"-t", "r/app:1", "--load", "--load-platform", "linux/s390x"}, "--load-platform linux/s390x is not among --platform"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"build", "--builder", noBuilder, "--platform", "linux/amd64,linux/arm64"}, c.args...)
			_, _, err := run(t, append(args, dir)...)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "nonexistent") {
				t.Errorf("err = %q: the builder was dialled before the plan was checked", err)
			}
			if strings.Contains(pipeline.OneLine(err), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if b, _ := os.ReadFile(existing); string(b) != "old" {
				t.Error("the existing file was changed")
			}
			if _, err := os.Stat(filepath.Join(dir, "app.tar")); err == nil {
				t.Error("an archive was written")
			}
		})
	}
}

func TestBuildOutputNeedsNoTag(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	out, _, err := run(t, "build", "--dry-run", "--builder", "unix:///nonexistent/buildkitd.sock", "--platform", "linux/amd64,linux/arm64",
		"--output", "type=oci,dest="+filepath.Join(dir, "app.tar"), dir)
	// No builder answers: the plan is printed, and the dry run fails
	// naming the builder.
	if err == nil || !strings.Contains(err.Error(), "builders did not answer") {
		t.Fatalf("dry run without a builder: err = %v", err)
	}
	if !strings.Contains(out, "nothing pushed: one OCI index of every platform into the OCI archive") || strings.Contains(out, "final tag") {
		t.Errorf("dry run:\n%s", out)
	}
}
