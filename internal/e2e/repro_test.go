package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/testenv"
)

// TestReproducibleIndexDigest builds examples/hello twice for three
// platforms on clean caches with one SOURCE_DATE_EPOCH and expects the
// same index digest; a third build with another epoch must give another
// digest, which proves that the comparison can fail.
func TestReproducibleIndexDigest(t *testing.T) {
	e := testenv.Get(t)
	build := func(epoch, repo string) string {
		t.Helper()
		r := e.RunEnv(t, []string{"SOURCE_DATE_EPOCH=" + epoch}, "build", "--insecure", "--progress", "plain", "--no-cache",
			"--platform", "linux/amd64,linux/arm64,linux/arm/v7", "--build-arg", "BASE="+e.Base(),
			"-t", repo+":1", filepath.Join(e.Root, "examples", "hello"))
		if r.ExitCode != 0 {
			t.Fatalf("build with SOURCE_DATE_EPOCH=%s exited %d:\n%s", epoch, r.ExitCode, r.Stderr)
		}
		return strings.TrimSpace(r.Stdout)
	}
	first := build("1700000000", uniqueRepo(e, "repro-a"))
	second := build("1700000000", uniqueRepo(e, "repro-b"))
	if first != second {
		t.Errorf("two --no-cache builds with SOURCE_DATE_EPOCH=1700000000 gave %s and %s", first, second)
	}
	if other := build("1600000000", uniqueRepo(e, "repro-c")); other == first {
		t.Errorf("another SOURCE_DATE_EPOCH gave the same digest %s: the epoch does not reach the image", other)
	}
}

// TestReproducibleRefusesBadEpoch refuses an epoch that is not whole
// seconds, from the environment or the flag, before anything is built.
func TestReproducibleRefusesBadEpoch(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "repro-bad")
	args := []string{"build", "--insecure", "--platform", "linux/amd64", "--build-arg", "BASE=" + e.Base(), "-t", repo + ":1", filepath.Join(e.Root, "examples", "hello")}
	assertRefused(t, e.RunEnv(t, []string{"SOURCE_DATE_EPOCH=2024-01-01"}, args...), `invalid $SOURCE_DATE_EPOCH "2024-01-01"`)
	assertRefused(t, e.Run(t, append(args, "--source-date-epoch", "1.5")...), `invalid --source-date-epoch "1.5"`)
	assertRefused(t, e.Run(t, append(args, "--compression", "lz4")...), `invalid --compression "lz4"`)
	assertRefused(t, e.Run(t, append(args, "--compression", "zstd", "--compression-level", "30")...), "zstd takes 1 to 22")
	assertTagMissing(t, repo+":1")
}
