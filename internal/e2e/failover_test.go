package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/testenv"
)

// stoppedBuildkitd starts a buildkitd of the test's own, waits until it
// answers, and kills it: its socket file stays, and nothing listens on it,
// as after a crash.
func stoppedBuildkitd(t *testing.T, e testenv.Env) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "mabfo") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	addr := "unix://" + filepath.Join(dir, "buildkitd.sock")
	cmd := exec.Command(e.Buildkitd(), "--root", filepath.Join(dir, "root"), "--addr", addr)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := builder.Probe(ctx, addr, builder.TLS{})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("buildkitd at %s did not answer: %v", addr, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	return addr
}

// TestBuildFailsOverToNextNode: linux/arm64 has three nodes; a socket
// that does not exist and a buildkitd that was killed come first. The
// third builds it, and each of the others gets one line on stderr.
func TestBuildFailsOverToNextNode(t *testing.T) {
	e := testenv.Get(t)
	stopped := stoppedBuildkitd(t, e)
	repo := uniqueRepo(e, "failover")
	meta := filepath.Join(t.TempDir(), "m.json")
	r := e.Run(t, "build", "--insecure", "--progress", "quiet", "--metadata-file", meta,
		"--node", "linux/arm64=unix:///nonexistent.sock", "--node", "linux/arm64="+stopped, "--node", "linux/arm64="+e.Node,
		"--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+e.Base(), "-t", repo+":1", filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	var lines []string
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(l, "node ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "node unix:///nonexistent.sock for linux/arm64 is unreachable (") || !strings.HasSuffix(lines[0], "); using "+e.Node) ||
		!strings.HasPrefix(lines[1], "node "+stopped+" for linux/arm64 is unreachable (") || !strings.HasSuffix(lines[1], "); using "+e.Node) {
		t.Errorf("want one line per node that did not answer, got:\n%s", r.Stderr)
	}
	md := readMetadata(t, meta)
	want := map[string]string{"linux/amd64": e.BuildkitHost, "linux/arm64": e.Node}
	for _, p := range md.Platforms {
		if p.Builder != want[p.Platform] || p.Digest == "" {
			t.Errorf("%s built on %q (digest %q), want on %s", p.Platform, p.Builder, p.Digest, want[p.Platform])
		}
	}
	if md.Digest == "" || len(md.Platforms) != 2 {
		t.Errorf("metadata %+v", md)
	}
}

// TestBuildFailsWhenEveryNodeIsDown: exit 1, one line naming the platform
// and each endpoint tried, nothing pushed (not even the platform whose
// builder answers).
func TestBuildFailsWhenEveryNodeIsDown(t *testing.T) {
	e := testenv.Get(t)
	stopped := stoppedBuildkitd(t, e)
	tag := uniqueRepo(e, "failover-down") + ":1"
	r := e.Run(t, "build", "--insecure", "--progress", "quiet",
		"--node", "linux/arm64=unix:///nonexistent.sock", "--node", "linux/arm64="+stopped,
		"--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+e.Base(), "-t", tag, filepath.Join(e.Root, "examples", "hello"))
	lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
	if r.ExitCode != 1 || len(lines) != 1 ||
		!strings.HasPrefix(lines[0], "mab: no node for linux/arm64 answers, tried unix:///nonexistent.sock (") ||
		!strings.Contains(lines[0], ", "+stopped+" (") {
		t.Errorf("exit %d, want 1 and one line naming linux/arm64 and both nodes:\n%s", r.ExitCode, r.Stderr)
	}
	for _, ref := range []string{tag, tag + "-amd64", tag + "-arm64"} {
		assertTagMissing(t, ref)
	}
}

// TestDryRunNodesCoverEveryPlatform: the default builder is down, nodes
// (from $MAB_NODES, empty entries between them) cover every platform:
// it is not needed, and the plan shows the node that answered.
func TestDryRunNodesCoverEveryPlatform(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "failover-dry")
	nodes := "MAB_NODES=linux/amd64=" + e.BuildkitHost + ";;linux/arm64=unix:///nonexistent.sock;linux/arm64=" + e.Node + ";"
	r := e.RunEnv(t, []string{nodes}, "build", "--dry-run", "--insecure", "--builder", "unix:///nonexistent/buildkitd.sock",
		"--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+e.Base(), "-t", repo+":1", filepath.Join(e.Root, "examples", "hello"))
	rows := strings.Join(strings.Fields(r.Stdout), " ")
	if r.ExitCode != 0 || strings.Contains(r.Stdout, "builders not reached") ||
		!strings.Contains(rows, "linux/amd64 "+repo+":1-amd64 "+e.BuildkitHost+" native") ||
		!strings.Contains(rows, "linux/arm64 "+repo+":1-arm64 "+e.Node+" ") ||
		!strings.Contains(r.Stdout, "node unix:///nonexistent.sock for linux/arm64 is unreachable (") {
		t.Errorf("exit %d:\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
}

// TestNodeBadInput: an empty --node, one without an endpoint, the same
// endpoint twice for a platform: exit 1, one line, nothing pushed.
func TestNodeBadInput(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "node-bad")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"empty node", []string{"--node", ""}, "--node: invalid node: an empty value"},
		{"node without an endpoint", []string{"--node", "linux/arm64="}, "want PLATFORM=ENDPOINT"},
		{"same endpoint twice", []string{"--node", "linux/arm64=" + e.Node, "--node", "linux/aarch64=" + e.Node}, "linux/arm64=" + e.Node + " is given twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tag := repo + ":" + strings.ReplaceAll(c.name, " ", "-")
			args := append([]string{"build", "--insecure", "--platform", "linux/arm64", "--build-arg", "BASE=" + e.Base(), "-t", tag}, c.args...)
			r := e.Run(t, append(args, filepath.Join(e.Root, "examples", "hello"))...)
			assertRefused(t, r, c.want)
			assertTagMissing(t, tag)
			assertTagMissing(t, tag+"-arm64")
		})
	}
}
