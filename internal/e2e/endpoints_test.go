package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
	bkclient "github.com/moby/buildkit/client"
)

// TestBuildThroughDockerDaemon builds three platforms with the BuildKit
// inside dockerd (one platform per solve, the way buildx's docker driver
// cannot), pushes them through the Docker API and merges them.
func TestBuildThroughDockerDaemon(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "docker")
	// The daemon holds the base image of another platform under the same
	// name: dockerd 20.10's BuildKit would take it for every platform.
	if out, err := e.Command(t, "docker", "pull", "--platform", "linux/arm/v7", e.Base()); err != nil {
		t.Fatalf("docker pull: %v\n%s", err, out)
	}
	r := e.Run(t, "build", "--builder", "docker", "--insecure", "--progress", "plain",
		"--platform", "linux/amd64,linux/arm64,linux/arm/v7", "--build-arg", "BASE="+e.Base(),
		"-t", repo+":1", filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "through the Docker daemon") {
		t.Error("progress does not show the push through the Docker daemon")
	}
	idx, err := remote.Index(mustRef(t, repo+":1"))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	want := map[string]string{"amd64": "x86_64\n", "arm64": "aarch64\n", "arm": "armv7l\n"}
	if len(m.Manifests) != 3 {
		t.Fatalf("%d children, want 3", len(m.Manifests))
	}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, img, "arch.txt"); got != want[d.Platform.Architecture] {
			t.Errorf("%s: /arch.txt = %q, want %q", d.Platform.Architecture, got, want[d.Platform.Architecture])
		}
	}
	// The arch tags are in the daemon, as BuildKit exported them there.
	if out, err := e.Command(t, "docker", "image", "inspect", repo+":1-arm64"); err != nil {
		t.Errorf("arch tag not in the Docker daemon: %v\n%s", err, out)
	}
}

// TestBuildNodeGetsItsPlatform sends linux/arm64 to the second buildkitd
// and checks, in that daemon's own records, that it built the step.
func TestBuildNodeGetsItsPlatform(t *testing.T) {
	e := testenv.Get(t)
	dir := t.TempDir()
	marker := "node-marker-" + time.Now().Format("150405.000000000")
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nRUN echo "+marker+" && uname -m > /arch.txt\n")
	repo := uniqueRepo(e, "node")
	r := e.Run(t, "build", "--insecure", "--progress", "quiet", "--metadata-file", filepath.Join(t.TempDir(), "m.json"),
		"--platform", "linux/arm64", "--node", "linux/arm64="+e.Node,
		"--build-arg", "BASE="+e.Base(), "-t", repo+":1", dir)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	if !ranStep(t, e.Node, marker) {
		t.Errorf("the node %s has no record of the step", e.Node)
	}
	if ranStep(t, e.BuildkitHost, marker) {
		t.Errorf("the default builder %s ran the step although it was sent to the node", e.BuildkitHost)
	}
	// A mixed build: amd64 on the default builder, arm64 on the node, one index.
	r = e.Run(t, "build", "--insecure", "--progress", "quiet",
		"--platform", "linux/amd64,linux/arm64", "--node", "linux/arm64="+e.Node,
		"--build-arg", "BASE="+e.Base(), "-t", repo+":2", dir)
	if r.ExitCode != 0 {
		t.Fatalf("mixed build exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	idx, err := remote.Index(mustRef(t, repo+":2"))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := idx.IndexManifest(); len(m.Manifests) != 2 {
		t.Errorf("mixed build index has %d children, want 2", len(m.Manifests))
	}
}

// ranStep reports whether the buildkitd at addr holds a cache record whose
// description contains marker: the trace a RUN step leaves.
func ranStep(t *testing.T, addr, marker string) bool {
	t.Helper()
	ctx := context.Background()
	c, err := bkclient.New(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	du, err := c.DiskUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range du {
		if strings.Contains(u.Description, marker) {
			return true
		}
	}
	return false
}

// TestBuildLoadRunsOnHost loads the host's platform into dockerd.
func TestBuildLoadRunsOnHost(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "load")
	r := e.Run(t, "build", "--insecure", "--progress", "quiet", "--load",
		"--platform", "linux/arm64,linux/amd64", "--build-arg", "BASE="+e.Base(),
		"-t", repo+":1", filepath.Join(e.Root, "examples", "hello"))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	out, err := e.Command(t, "docker", "run", "--rm", repo+":1")
	if err != nil {
		t.Fatalf("docker run: %v\n%s", err, out)
	}
	host, _ := exec.Command("uname", "-m").Output()
	if strings.TrimSpace(out) != strings.TrimSpace(string(host)) {
		t.Errorf("docker run printed %q, want the host's %q", out, host)
	}
}

func TestBuildLoadRefusesWithoutHostPlatform(t *testing.T) {
	e := testenv.Get(t)
	r := e.Run(t, "build", "--load", "--platform", "linux/arm64", "-t", uniqueRepo(e, "noload")+":1",
		filepath.Join(e.Root, "examples", "hello"))
	checkRefused(t, r, "--load")
}

// TestBuildThroughSSH reaches the node buildkitd as a remote host would be
// reached: ssh://HOST/SOCKET, through a real ssh to the environment's
// sshd, which runs `buildctl dial-stdio` there. The node's own records
// show the build.
func TestBuildThroughSSH(t *testing.T) {
	e := testenv.Get(t)
	// BuildKit's ssh:// helper runs "ssh" from PATH with no way to pass
	// options: a wrapper adds the environment's client config.
	bin := t.TempDir()
	wrapper := "#!/bin/sh\nexec /usr/bin/ssh -F " + e.SSHConfig + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "ssh"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	marker := "ssh-marker-" + time.Now().Format("150405.000000000")
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nRUN echo "+marker+" && uname -m > /arch.txt\n")
	repo := uniqueRepo(e, "ssh-builder")
	addr := "ssh://mab-e2e" + strings.TrimPrefix(e.Node, "unix://")
	r := e.RunEnv(t, []string{"PATH=" + bin + ":" + os.Getenv("PATH")},
		"build", "--builder", addr, "--insecure", "--progress", "quiet",
		"--platform", "linux/amd64,linux/arm64", "--build-arg", "BASE="+e.Base(), "-t", repo+":1", dir)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	if !ranStep(t, e.Node, marker) {
		t.Errorf("the buildkitd behind %s has no record of the step", addr)
	}
	if ranStep(t, e.BuildkitHost, marker) {
		t.Errorf("the default builder ran the step, not the one behind %s", addr)
	}
	idx, err := remote.Index(mustRef(t, repo+":1"))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := idx.IndexManifest(); len(m.Manifests) != 2 {
		t.Errorf("index has %d children, want 2", len(m.Manifests))
	}
}

// TestBuildThroughDockerContainer reaches BuildKit through a container, as
// docker-container:// does: `docker exec -i NAME buildctl dial-stdio`. The
// container holds a static buildctl and, at BuildKit's default socket
// path, the socket of the node buildkitd, whose records show the build.
func TestBuildThroughDockerContainer(t *testing.T) {
	e := testenv.Get(t)
	name := fmt.Sprintf("mab-e2e-bk-%d", time.Now().UnixNano())
	sock := strings.TrimPrefix(e.Node, "unix://")
	if out, err := e.Command(t, "docker", "create", "--name", name, "--network", "none",
		"-v", sock+":/run/buildkit/buildkitd.sock", e.Base(), "sleep", "3600"); err != nil {
		t.Fatalf("docker create: %v\n%s", err, out)
	}
	t.Cleanup(func() { e.Command(t, "docker", "rm", "-f", name) })
	if out, err := e.Command(t, "docker", "cp", e.Buildctl, name+":/bin/buildctl"); err != nil {
		t.Fatalf("docker cp buildctl: %v\n%s", err, out)
	}
	if out, err := e.Command(t, "docker", "start", name); err != nil {
		t.Fatalf("docker start: %v\n%s", err, out)
	}
	dir := t.TempDir()
	marker := "container-marker-" + time.Now().Format("150405.000000000")
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nRUN echo "+marker+"\n")
	repo := uniqueRepo(e, "container-builder")
	r := e.Run(t, "build", "--builder", "docker-container://"+name, "--insecure", "--progress", "quiet",
		"--platform", "linux/amd64", "--build-arg", "BASE="+e.Base(), "-t", repo+":1", dir)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	if !ranStep(t, e.Node, marker) {
		t.Errorf("the buildkitd behind the container has no record of the step")
	}
	r = e.Run(t, "build", "--builder", "docker-container://no-such-container-"+name, "--platform", "linux/amd64",
		"--build-arg", "BASE="+e.Base(), "-t", repo+":2", dir)
	checkRefused(t, r, "no-such-container-"+name)
	assertTagMissing(t, repo+":2")
}
