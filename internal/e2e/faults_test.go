package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
	"github.com/mab-build/mab/internal/testenv/faultproxy"
)

// buildThrough runs `mab build` of a one-line Dockerfile (label v) for
// linux/amd64 to repo:1 on the proxy's host.
func buildThrough(t *testing.T, e testenv.Env, px *faultproxy.Proxy, repo, v string) testenv.Result {
	t.Helper()
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\n")
	return e.Run(t, "build", "--progress", "quiet", "--platform", "linux/amd64", "--label", "v="+v,
		"--build-arg", "BASE="+e.Base(), "-t", px.Host()+"/"+repo+":1", dir)
}

func TestIndexPutFailingTwiceIsRetried(t *testing.T) {
	e := testenv.Get(t)
	px := faultproxy.New("http://" + e.Registry)
	t.Cleanup(px.Close)
	repo := strings.TrimPrefix(uniqueRepo(e, "putretry"), e.Registry+"/")
	index := "/v2/" + repo + "/manifests/1$"
	px.Add(faultproxy.Rule{Method: http.MethodPut, Path: index, Times: 2, Fault: faultproxy.Status(http.StatusInternalServerError)})
	r := buildThrough(t, e, px, repo, "1")
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	if n := px.Count(http.MethodPut, index); n != 3 {
		t.Errorf("%d index PUTs, want 3 (two 500s, then the write)", n)
	}
	d, err := remote.Head(mustRef(t, e.Registry+"/"+repo+":1"))
	if err != nil || d.Digest.String() != strings.TrimSpace(r.Stdout) {
		t.Errorf("the registry holds %v (%v), mab printed %q", d, err, r.Stdout)
	}
}

func TestFailedReadBackRestoresEarlierIndex(t *testing.T) {
	e := testenv.Get(t)
	px := faultproxy.New("http://" + e.Registry)
	t.Cleanup(px.Close)
	repo := strings.TrimPrefix(uniqueRepo(e, "restore"), e.Registry+"/")
	first := buildThrough(t, e, px, repo, "1")
	if first.ExitCode != 0 {
		t.Fatalf("first build: exit %d:\n%s", first.ExitCode, first.Stderr)
	}
	before := strings.TrimSpace(first.Stdout)
	// The second build's snapshot of the tag reads it; its read-back after
	// the write is refused.
	index := "/v2/" + repo + "/manifests/1$"
	px.Add(faultproxy.Rule{Method: http.MethodGet, Path: index, After: 1, Fault: faultproxy.Status(http.StatusNotFound)})
	second := buildThrough(t, e, px, repo, "2")
	if second.ExitCode != 1 {
		t.Fatalf("exit %d, want 1 (the tag put back):\n%s", second.ExitCode, second.Stderr)
	}
	if want := "put the earlier index " + before + " back under " + px.Host() + "/" + repo + ":1"; !strings.Contains(testenv.LastLine(second.Stderr), want) {
		t.Errorf("last line %q lacks %q", testenv.LastLine(second.Stderr), want)
	}
	if second.Stdout != "" {
		t.Errorf("stdout %q: no digest may be printed for a tag that was put back", second.Stdout)
	}
	d, err := remote.Head(mustRef(t, e.Registry+"/"+repo+":1"))
	if err != nil || d.Digest.String() != before {
		t.Errorf("the tag holds %v (%v), want the earlier %s", d, err, before)
	}
	if n := px.Count(http.MethodPut, index); n != 3 {
		t.Errorf("%d index PUTs, want 3 (first build, second build, restore)", n)
	}
}

// TestHangingRegistryFailsWithinBoundedTime: the registry accepts the
// read of the final tag and never answers; with --registry-timeout 1s mab
// gives up within seconds, naming the registry, and writes nothing.
func TestHangingRegistryFailsWithinBoundedTime(t *testing.T) {
	e := testenv.Get(t)
	px := faultproxy.New("http://" + e.Registry)
	t.Cleanup(px.Close)
	repo := strings.TrimPrefix(uniqueRepo(e, "hang"), e.Registry+"/")
	px.Add(faultproxy.Rule{Method: http.MethodGet, Path: "/v2/" + repo + "/manifests/1$", Fault: faultproxy.Hang()})
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\n")
	start := time.Now()
	r := e.Run(t, "build", "--progress", "quiet", "--registry-timeout", "1s", "--platform", "linux/amd64",
		"--build-arg", "BASE="+e.Base(), "-t", px.Host()+"/"+repo+":1", dir)
	took := time.Since(start)
	last := testenv.LastLine(r.Stderr)
	if r.ExitCode != 1 || !strings.Contains(last, px.Host()) || !strings.Contains(last, "left unchanged") {
		t.Fatalf("exit %d after %s, last line %q", r.ExitCode, took, last)
	}
	if took > 45*time.Second {
		t.Errorf("took %s to give up on a silent registry with --registry-timeout 1s", took)
	}
	t.Logf("gave up after %s: %s", took.Round(100*time.Millisecond), last)
	assertTagMissing(t, e.Registry+"/"+repo+":1")
}

// TestSignalDuringWriteFinishesAndReportsIt: SIGINT arrives while the
// index PUT is under way (its first attempt hangs): mab finishes the
// write and the read-back instead of abandoning them, exits 0 and prints
// the digest the tag holds.
func TestSignalDuringWriteFinishesAndReportsIt(t *testing.T) {
	e := testenv.Get(t)
	px := faultproxy.New("http://" + e.Registry)
	t.Cleanup(px.Close)
	repo := strings.TrimPrefix(uniqueRepo(e, "sigwrite"), e.Registry+"/")
	index := "/v2/" + repo + "/manifests/1$"
	px.Add(faultproxy.Rule{Method: http.MethodPut, Path: index, Times: 1, Fault: faultproxy.Hang()})
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\n")
	cmd := exec.Command(e.Mab(t), "build", "--progress", "quiet", "--registry-timeout", "2s", "--platform", "linux/amd64",
		"--build-arg", "BASE="+e.Base(), "-t", px.Host()+"/"+repo+":1", dir)
	cmd.Env = append(os.Environ(), "BUILDKIT_HOST="+e.BuildkitHost)
	var stdout strings.Builder
	stderr := &syncWriter{b: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(60 * time.Second)
	for px.Count(http.MethodPut, index) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no index PUT in 60s:\n%s", stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if code := waitExit(t, cmd, 60*time.Second); code != 0 {
		t.Fatalf("exit %d, want 0 (the write finished):\n%s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "stopping") {
		t.Errorf("the signal was not seen:\n%s", stderr)
	}
	d, err := remote.Head(mustRef(t, e.Registry+"/"+repo+":1"))
	if err != nil || strings.TrimSpace(stdout.String()) != d.Digest.String() {
		t.Errorf("stdout %q, the tag holds %v (%v)", stdout.String(), d, err)
	}
}
