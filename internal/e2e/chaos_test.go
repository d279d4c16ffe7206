package e2e

import (
	"encoding/json"
	"fmt"
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

// TestRacingBuildsNeverReportADigestTheTagDoesNotHold runs, for several
// rounds, two builds of different content to one tag (with arch tags) at
// once. What the publication order (index PUT, read-back, other tags and
// arch tags, the final tag read once more) lets the test prove:
//
//   - Every run exits 0 or 4, or 3 when one of its arch tags, read back,
//     held the other run's image (see the last point; the final tag is its
//     own and printed): no write of one is mistaken for a failure of the
//     other, and none is hidden.
//   - Let F be the run whose index PUT came last: nothing writes the final
//     tag after it, so F's read-back and final read see its index; F exits
//     0 (or 3, below) and printed the digest the tag holds at the end. No other run can
//     have printed it (the contents differ).
//   - A run E that exits 4 printed nothing.
//   - A run E that exits 0 saw its own index at its final read, so that
//     read came before F's PUT: every write of E precedes every write of
//     F, and F's arch tags (written after F's PUT) are the last writes of
//     each: when both exit 0, the arch tags are exactly the children of the
//     index the final tag holds.
//   - When E exits 4, its arch-tag writes (if it confirmed before F's PUT)
//     may land after F's: each arch tag then holds F's child for its
//     platform, or E's, and E's only where E's metadata says E wrote it.
//     When such a write lands between F's write of that arch tag and its
//     read-back, F sees it and exits 3, naming the other writer.
func TestRacingBuildsNeverReportADigestTheTagDoesNotHold(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "race")
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nARG V\nRUN echo $V > /v\n")
	arches := []string{"amd64", "arm64"}
	for round := range 5 {
		var wg sync.WaitGroup
		results := make([]testenv.Result, 2)
		mds := []string{filepath.Join(dir, fmt.Sprintf("%d-a.json", round)), filepath.Join(dir, fmt.Sprintf("%d-b.json", round))}
		for i, v := range []string{"a", "b"} {
			wg.Go(func() {
				results[i] = e.Run(t, "build", "--insecure", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64",
					"--build-arg", "BASE="+e.Base(), "--build-arg", fmt.Sprintf("V=%d-%s", round, v), "--metadata-file", mds[i], "-t", repo+":1", dir)
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
		final, _ := idx.Digest()
		metas := make([]pipeline.Metadata, 2)
		printedFinal := 0
		for i, md := range mds {
			b, err := os.ReadFile(md)
			if err != nil || json.Unmarshal(b, &metas[i]) != nil {
				t.Fatalf("round %d: metadata %s: %v", round, md, err)
			}
			out := strings.TrimSpace(results[i].Stdout)
			t.Logf("round %d: build %d exited %d, printed %q: %s", round, i, results[i].ExitCode, out, testenv.LastLine(results[i].Stderr))
			switch results[i].ExitCode {
			case 0:
				if out == final.String() {
					printedFinal++
				}
			case 3:
				if out != final.String() || !strings.Contains(results[i].Stderr, "the arch tags are not all written") || !strings.Contains(results[i].Stderr, "changed by another writer") {
					t.Errorf("round %d: build %d exited 3 printing %q; want only the final digest and an arch tag another writer changed:\n%s", round, i, out, results[i].Stderr)
				} else {
					printedFinal++
				}
			case 4:
				if out != "" {
					t.Errorf("round %d: build %d exited 4 and printed %q", round, i, out)
				}
			default:
				t.Errorf("round %d: build %d exited %d, want 0 or 4:\n%s", round, i, results[i].ExitCode, results[i].Stderr)
			}
		}
		if printedFinal != 1 {
			t.Errorf("round %d: %d runs exited 0 (or 3) printing %s, the digest the tag holds; want exactly 1", round, printedFinal, final)
		}
		for k, arch := range arches {
			d, err := remote.Head(mustRef(t, repo+":1-"+arch))
			if err != nil {
				t.Fatal(err)
			}
			if d.Digest == m.Manifests[k].Digest {
				continue
			}
			// Only a run that exited 4 may have left its image there, and
			// only under an arch tag it says it wrote.
			excused := false
			for i, meta := range metas {
				excused = excused || (results[i].ExitCode == 4 && meta.Platforms[k].Tag != "" && meta.Platforms[k].Digest == d.Digest.String())
			}
			if !excused {
				t.Errorf("round %d: arch tag %s holds %s, not %s, the child of the index the tag holds, nor an image of a run that exited 4 and wrote it", round, arch, d.Digest, m.Manifests[k].Digest)
			} else {
				t.Logf("round %d: arch tag %s holds the image of the run that reported the overwrite", round, arch)
			}
		}
	}
}
