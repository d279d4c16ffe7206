package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/internal/pipeline"
)

// run executes the real command tree with args and returns its output and
// error, as main would see them.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := NewRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func TestBuildRefusesBadInputBeforeDialling(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The builder address is a socket that does not exist: an error about
	// it would mean mab dialled before checking the plan.
	const noBuilder = "unix:///nonexistent/buildkitd.sock"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"empty arch", []string{"--platform", "linux/", "-t", "r/app:1", dir}, "invalid platform"},
		{"four parts", []string{"--platform", "foo/bar/baz/qux", "-t", "r/app:1", dir}, "invalid platform"},
		{"duplicate", []string{"--platform", "linux/arm64,linux/aarch64", "-t", "r/app:1", dir}, "list each platform once"},
		{"bad repo", []string{"--platform", "linux/amd64", "-t", "Repo:Tag", dir}, "invalid tag"},
		{"long tag", []string{"--platform", "linux/amd64", "-t", "r/app:" + strings.Repeat("x", 129), dir}, "invalid tag"},
		{"missing context", []string{"--platform", "linux/amd64", "-t", "r/app:1", filepath.Join(dir, "nope")}, "build context"},
		{"missing Dockerfile", []string{"--platform", "linux/amd64", "-t", "r/app:1", "-f", filepath.Join(dir, "Nope"), dir}, "Dockerfile"},
		{"no platform", []string{"-t", "r/app:1", dir}, "platform"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := run(t, append([]string{"build", "--builder", noBuilder}, c.args...)...)
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
		})
	}
}

func TestBuildNamesUnreachableBuilder(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, "build", "--builder", "unix:///nonexistent/buildkitd.sock", "--platform", "linux/amd64", "-t", "r/app:1", dir)
	if err == nil || !strings.Contains(err.Error(), "unix:///nonexistent/buildkitd.sock") || !strings.Contains(err.Error(), "start buildkitd") {
		t.Fatalf("err = %v, want the address and how to start a builder", err)
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, c := range [][]string{{"build"}, {"merge"}, {"inspect"}, {"save"}, {"emulation", "install"}, {"emulation", "status"}} {
		out, _, err := run(t, append(c, "--help")...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Examples:") {
			t.Errorf("mab %s --help has no examples", strings.Join(c, " "))
		}
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "mab: ") || !strings.Contains(out, "buildkit:  v0.") {
		t.Errorf("version output %q", out)
	}
}

func TestEmulationInstallRefusesUnknownArch(t *testing.T) {
	_, _, err := run(t, "emulation", "install", "sparc99")
	if err == nil || !strings.Contains(err.Error(), "unknown architecture") {
		t.Fatalf("err = %v", err)
	}
}

func TestOneLine(t *testing.T) {
	if got := pipeline.OneLine(errString("a\n  b\n\nc")); got != "a; b; c" {
		t.Errorf("oneLine = %q", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestEmulationBadArguments(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"emulation", "install", "sparc99"}, "known: amd64, 386, arm64, arm, riscv64, ppc64le, s390x, mips64le, mips64, loong64"},
		{[]string{"emulation", "uninstall", "arm64", "vax"}, `unknown architecture "vax"`},
		{[]string{"emulation", "install", "--via", "ssh", "riscv64"}, `invalid --via "ssh"`},
		{[]string{"emulation", "uninstall", "--via", "ssh", "riscv64"}, `invalid --via "ssh"`},
		{[]string{"emulation", "status", "--format", "xml"}, `invalid --format "xml"`},
	}
	for _, c := range cases {
		_, _, err := run(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want one line containing %q", c.args, err, c.want)
		}
	}
}

func TestExitCodes(t *testing.T) {
	final := name.MustParseReference("r.example.com/app:1").(name.Tag)
	cases := []struct {
		err  error
		want int
	}{
		{errString("anything"), exitFailed},
		{advise(&pipeline.PublishedError{Final: final, Digest: "sha256:a", Err: errString("--load failed")}, "build"), exitPublished},
		{advise(&pipeline.UnconfirmedError{Final: final, Wrote: "sha256:a", Err: errString("verify")}, "build"), exitUnconfirmed},
		{errors.Join(errString("metadata"), &pipeline.UnconfirmedError{Final: final}), exitUnconfirmed},
	}
	for _, c := range cases {
		if got := exitCode(c.err); got != c.want {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
