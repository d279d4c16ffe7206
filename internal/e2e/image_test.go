package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
)

// imagePlatforms are the platforms of mab's own image, as `make image`
// builds it.
var imagePlatforms = []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}

// compiling is the line the Dockerfile's Go build prints: the machine it
// runs on (uname -m) and the platform it compiles for.
var compiling = regexp.MustCompile(`mab: compiling on (\S+) for (\S+)`)

// TestOwnImage runs `make image` (mab building its own Dockerfile for
// three platforms into the environment's registry, then `mab inspect
// --verify`), checks that every platform's Go build ran natively on the
// builder (x86_64) and none under emulation, that each image holds the CA
// bundle, and runs the arm64 image's `mab version` through the
// environment's dockerd under QEMU.
func TestOwnImage(t *testing.T) {
	e := testenv.Get(t)
	ref := fmt.Sprintf("%s/image-mab-%d:dev", e.Registry, time.Now().UnixNano())
	out := makeImage(t, e, ref)

	// Every platform compiled, each on the builder's own machine.
	seen := map[string]string{}
	for _, m := range compiling.FindAllStringSubmatch(out, -1) {
		seen[m[2]] = m[1]
	}
	for _, p := range imagePlatforms {
		switch arch, ok := seen[p]; {
		case !ok:
			t.Errorf("no Go build for %s in the log of make image", p)
		case arch != "x86_64":
			t.Errorf("the Go build for %s ran on %s, not natively on x86_64: it was emulated", p, arch)
		}
	}
	if len(seen) != len(imagePlatforms) {
		t.Errorf("Go builds for %v, want exactly %v", seen, imagePlatforms)
	}
	// The summary says so too: amd64 native, the others cross, nothing
	// emulated (mab reads the platform of every RUN the frontend made).
	for _, p := range imagePlatforms {
		mode := "cross"
		if p == "linux/amd64" {
			mode = "native"
		}
		row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(p) + ` +ok +` + mode + ` +0s `)
		if !row.MatchString(out) {
			t.Errorf("the summary does not show %s as %s with 0s emulated:\n%s", p, mode, out)
		}
	}
	for _, p := range imagePlatforms {
		if !strings.Contains(out, p) {
			t.Errorf("mab inspect --verify does not list %s:\n%s", p, out)
		}
	}

	for _, p := range imagePlatforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := remote.Image(mustRef(t, ref), remote.WithPlatform(*plat))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if files := grepImage(t, img, "-----BEGIN CERTIFICATE-----"); len(files) != 1 || files[0] != "etc/ssl/certs/ca-certificates.crt" {
			t.Errorf("%s: certificate files %v, want etc/ssl/certs/ca-certificates.crt", p, files)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/mab" {
			t.Errorf("%s: entrypoint %q, want /mab", p, got)
		}
	}

	commit, err := exec.Command("git", "-C", e.Root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	version, err := e.Command(t, "docker", "run", "--rm", "--platform", "linux/arm64", ref, "version")
	if err != nil {
		t.Fatalf("docker run --platform linux/arm64 %s version: %v\n%s", ref, err, version)
	}
	if !strings.Contains(version, "linux/arm64") || !strings.Contains(version, strings.TrimSpace(string(commit))) {
		t.Errorf("the arm64 image's mab version does not name linux/arm64 and commit %s:\n%s", commit, version)
	}

	// The image as README shows it: the builder's socket mounted where
	// mab looks by default, the source in /src, the Docker config
	// read-only. (--network host: the registry is the host's loopback.)
	sock := strings.TrimPrefix(e.BuildkitHost, "unix://")
	target := fmt.Sprintf("%s/image-incontainer-%d:1", e.Registry, time.Now().UnixNano())
	out, err = e.Command(t, "docker", "run", "--rm", "--network", "host",
		"-v", sock+":/run/buildkit/buildkitd.sock", "-v", filepath.Join(e.Root, "examples", "hello")+":/src:ro",
		"-v", t.TempDir()+":/root/.docker:ro", ref,
		"build", "--progress", "plain", "--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+e.Base(), "-t", target, "/src")
	if err != nil {
		t.Fatalf("mab build in its own container: %v\n%s", err, out)
	}
	if r := e.Run(t, "inspect", "--verify", target); r.ExitCode != 0 || !strings.Contains(r.Stdout, "linux/arm64") {
		t.Errorf("what the container built does not verify: %s%s", r.Stdout, r.Stderr)
	}
}

// makeImage runs `make image` for ref against the environment (e2e-up is
// taken as done: the environment is up), with a context folder of the
// test's own, and returns its output.
func makeImage(t *testing.T, e testenv.Env, ref string) string {
	t.Helper()
	envFile := filepath.Join(t.TempDir(), "env")
	vars := fmt.Sprintf("export BUILDKIT_HOST=%s\nexport MAB_TEST_REGISTRY=%s\nexport DOCKER_HOST=%s\n", e.BuildkitHost, e.Registry, e.DockerHost)
	if err := os.WriteFile(envFile, []byte(vars), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-o", "e2e-up", "image", "ENV_FILE="+envFile, "IMAGE="+ref, "IMAGE_CONTEXT="+filepath.Join(t.TempDir(), "context"))
	cmd.Dir = e.Root
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make image: %v\n%s", err, b)
	}
	return string(b)
}
