package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/mab-build/mab/emulation"
)

// RunWith runs the mab binary with args, BUILDKIT_HOST and DOCKER_HOST set
// to the environment's, after edit has adjusted the command (its
// environment, its credentials).
func (e Env) RunWith(t testing.TB, edit func(*exec.Cmd), args ...string) Result {
	t.Helper()
	cmd := exec.Command(e.Mab(t), args...)
	cmd.Env = append(os.Environ(), "BUILDKIT_HOST="+e.BuildkitHost, "DOCKER_HOST="+e.DockerHost)
	edit(cmd)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.ExitCode = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running mab: %v", err)
	}
	return r
}

// InstallerImage builds a stand-in for tonistiigi/binfmt (the program in
// internal/testenv/binfmt, static, with Debian's qemu-<qemu>-static for
// each of qemus from /usr/bin), loads it into the environment's dockerd and
// returns its name.
func (e Env) InstallerImage(t testing.TB, qemus ...string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "binfmt")
	cmd := exec.Command("go", "build", "-o", bin, "./internal/testenv/binfmt")
	cmd.Dir = e.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the installer program: %v\n%s", err, out)
	}
	files := map[string]string{"usr/bin/binfmt": bin}
	for _, q := range qemus {
		files["usr/bin/qemu-"+q+"-static"] = "/usr/bin/qemu-" + q + "-static"
	}
	layer, err := fileLayer(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Entrypoint = []string{"/usr/bin/binfmt"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf("mab-test/binfmt:%d", time.Now().UnixNano())
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "image.tar")
	if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
		t.Fatal(err)
	}
	load := exec.Command("docker", "load", "-i", tarPath)
	load.Env = append(os.Environ(), "DOCKER_HOST="+e.DockerHost)
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		rm := exec.Command("docker", "rmi", "-f", ref)
		rm.Env = load.Env
		_ = rm.Run()
	})
	return ref
}

// fileLayer makes a layer of files (path in the image → path here), with a
// /tmp for the installer's probes.
func fileLayer(dir string, files map[string]string) (v1.Layer, error) {
	root := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o1777); err != nil {
		return nil, err
	}
	for dst, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(root, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			return nil, err
		}
	}
	tarPath := filepath.Join(dir, "layer.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", tarPath, ".").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("tar: %v: %s", err, out)
	}
	return tarball.LayerFromFile(tarPath)
}

// PrivateBuildkitd starts a buildkitd of its own on a unix socket, for a
// test that needs a builder whose worker platforms are detected from now
// on: BuildKit never drops a platform it once listed.
func (e Env) PrivateBuildkitd(t testing.TB) string {
	t.Helper()
	return e.StartBuildkitd(t, "")
}

// StartBuildkitd starts a buildkitd (the binary and the configuration of
// the environment's, a root of its own) listening on addr, or on a unix
// socket of its own when addr is empty, with extra flags, and returns its
// address once it listens. It is stopped, by its process id, when the test
// ends.
func (e Env) StartBuildkitd(t testing.TB, addr string, extra ...string) string {
	t.Helper()
	addr, _ = e.StartBuildkitdProcess(t, addr, extra...)
	return addr
}

// StartBuildkitdProcess is StartBuildkitd that also returns the process,
// for a test that kills it mid-build.
func (e Env) StartBuildkitdProcess(t testing.TB, addr string, extra ...string) (string, *os.Process) {
	t.Helper()
	dir, err := os.MkdirTemp("", "mab-bk-")
	if err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = "unix://" + filepath.Join(dir, "buildkitd.sock")
	}
	args := append([]string{"--config", filepath.Join(e.Root, ".e2e", "buildkitd.toml"), "--root", filepath.Join(dir, "root"), "--addr", addr}, extra...)
	cmd := exec.Command(e.Buildkitd(), args...)
	logf, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		_ = exec.Command("umount", "-R", filepath.Join(dir, "root")).Run()
		os.RemoveAll(dir)
	})
	for i := 0; i < 100; i++ {
		if listening(addr) {
			return addr, cmd.Process
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "buildkitd.log"))
	t.Fatalf("buildkitd on %s did not start:\n%s", addr, b)
	return "", nil
}

func listening(addr string) bool {
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		_, err := os.Stat(path)
		return err == nil
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(addr, "tcp://"), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// RestoreHandler registers e again in the kernel's binfmt_misc exactly as
// it was (name, offset, magic, mask, interpreter, flags; disabled if it
// was), for a test that removed it. The kernel shows the O flag that C
// implies, so O is written only without C.
func RestoreHandler(e emulation.Entry) error {
	esc := func(b []byte) string {
		var sb strings.Builder
		for _, c := range b {
			fmt.Fprintf(&sb, "\\x%02x", c)
		}
		return sb.String()
	}
	flags := strings.ReplaceAll(e.Flags, "O", "")
	if strings.Contains(e.Flags, "O") && !strings.Contains(e.Flags, "C") {
		flags += "O"
	}
	line := fmt.Sprintf(":%s:M:%d:%s:%s:%s:%s", e.Name, e.Offset, esc(e.Magic), esc(e.Mask), e.Interpreter, flags)
	if err := os.WriteFile(filepath.Join(emulation.DefaultRoot, "register"), []byte(line), 0); err != nil {
		return fmt.Errorf("restoring %s: %w", e.Name, err)
	}
	if !e.Enabled {
		return os.WriteFile(filepath.Join(emulation.DefaultRoot, e.Name), []byte("0"), 0)
	}
	return nil
}
