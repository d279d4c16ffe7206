package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/internal/testenv"
	"github.com/mab-build/mab/internal/testenv/faultproxy"
)

// TestKilledBuildkitdFailsFastLeavingTagUnwritten kills the builder (a
// buildkitd of the test's own) during a solve: mab exits 1 within seconds
// with one clear line, and the final tag is not written.
func TestKilledBuildkitdFailsFastLeavingTagUnwritten(t *testing.T) {
	e := testenv.Get(t)
	addr, proc := e.StartBuildkitdProcess(t, "")
	repo := uniqueRepo(e, "killedbk")
	cmd, _, stderr := startBuildOn(t, e, addr, repo+":1", filepath.Join(t.TempDir(), "m.json"), 60)
	if err := syscall.Kill(-proc.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code := waitExit(t, cmd, 30*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	last := testenv.LastLine(stderr.String())
	if !strings.HasPrefix(last, "mab: ") || !strings.Contains(last, "left unchanged") {
		t.Errorf("last line %q: want one line saying the tag was left unchanged", last)
	}
	t.Logf("exited %s after the kill: %s", time.Since(start).Round(100*time.Millisecond), last)
	assertTagMissing(t, repo+":1")
}

// TestStoppedRegistryFailsLeavingTagUnwritten stops the registry (the
// proxy in front of it) while the solve runs: the push fails, mab exits 1
// with one line, and nothing is written under the final tag.
func TestStoppedRegistryFailsLeavingTagUnwritten(t *testing.T) {
	e := testenv.Get(t)
	px := faultproxy.New("http://" + e.Registry)
	repo := strings.TrimPrefix(uniqueRepo(e, "stoppedreg"), e.Registry+"/")
	cmd, _, stderr := startBuildOn(t, e, e.BuildkitHost, px.Host()+"/"+repo+":1", filepath.Join(t.TempDir(), "m.json"), 2)
	px.Close()
	if code := waitExit(t, cmd, 90*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	if last := testenv.LastLine(stderr.String()); !strings.HasPrefix(last, "mab: ") || !strings.Contains(last, "left unchanged") {
		t.Errorf("last line %q", last)
	}
	assertTagMissing(t, e.Registry+"/"+repo+":1")
	assertTagMissing(t, e.Registry+"/"+repo+":1-amd64")
}

// TestRacingBuildsLeaveOneBuildsCompleteIndex runs two builds of different
// content to one tag at once: the tag ends as the complete index of one of
// them, never a mixture of their platforms.
func TestRacingBuildsLeaveOneBuildsCompleteIndex(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "race")
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nARG V\nRUN echo $V > /v\n")
	var wg sync.WaitGroup
	results := make([]testenv.Result, 2)
	mds := []string{filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")}
	for i, v := range []string{"a", "b"} {
		wg.Go(func() {
			results[i] = e.Run(t, "build", "--insecure", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64",
				"--build-arg", "BASE="+e.Base(), "--build-arg", "V="+v, "--metadata-file", mds[i], "-t", repo+":1", dir)
		})
	}
	wg.Wait()
	idx, err := remote.Index(mustRef(t, repo+":1"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	matched := 0
	for i, md := range mds {
		var meta pipeline.Metadata
		b, err := os.ReadFile(md)
		if err != nil || json.Unmarshal(b, &meta) != nil {
			t.Fatalf("metadata %s: %v", md, err)
		}
		if results[i].ExitCode != 0 {
			t.Logf("build %d exited %d: %s", i, results[i].ExitCode, testenv.LastLine(results[i].Stderr))
			continue
		}
		same := len(m.Manifests) == len(meta.Platforms)
		for k, p := range meta.Platforms {
			same = same && m.Manifests[k].Digest.String() == p.Digest
		}
		if same {
			matched++
			if meta.Digest != d.String() {
				t.Errorf("build %d's index is the tag's, but it reported %s, not %s", i, meta.Digest, d)
			}
		}
	}
	if matched != 1 {
		t.Errorf("the tag's index %s is the complete index of %d builds, want exactly 1: %+v", d, matched, m.Manifests)
	}
}
