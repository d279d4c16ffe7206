package e2e

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/testenv"
)

// assertRefused checks that r is a refusal as mab makes them: exit 1 and
// one line on stderr, starting "mab: ", that names want.
func assertRefused(t *testing.T, r testenv.Result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
	if r.ExitCode != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "mab: ") || !strings.Contains(lines[0], want) {
		t.Errorf("exit %d, want 1 and one stderr line naming %q:\n%s", r.ExitCode, want, r.Stderr)
	}
}

func writeDockerfile(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unsupportedPlatform returns a platform the test builder cannot run. The
// environment registers handlers for arm64 and arm only, so one of these is
// always missing there. riscv64 is not a candidate: the emulation tests
// install and remove its handler while other packages' tests run.
func unsupportedPlatform(t *testing.T, e testenv.Env) string {
	t.Helper()
	ctx := context.Background()
	bk, err := builder.Dial(ctx, e.BuildkitHost, builder.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	have, err := bk.Platforms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, cand := range []string{"linux/s390x", "linux/ppc64le", "linux/mips64le", "linux/loong64"} {
		p := platforms.MustParse(cand)
		found := false
		for _, h := range have {
			if platforms.NewMatcher(h).Match(p) {
				found = true
			}
		}
		if !found {
			return cand
		}
	}
	t.Fatalf("the builder runs every candidate platform (%v): this environment has more handlers than e2e-up registers", have)
	return ""
}

// grepImage returns the files of img whose content contains s.
func grepImage(t *testing.T, img v1.Image, s string) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(tr)
			if strings.Contains(string(b), s) {
				found = append(found, h.Name)
			}
		}
		rc.Close()
	}
	return found
}

// assertTagMissing checks that ref was never written.
func assertTagMissing(t *testing.T, ref string) {
	t.Helper()
	if _, err := remote.Head(mustRef(t, ref)); err == nil {
		t.Errorf("%s exists after a refused build", ref)
	}
}
