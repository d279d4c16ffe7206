package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/emulation"
	"github.com/mab-build/mab/internal/testenv"
)

// These tests change the kernel's binfmt_misc, which every process of the
// machine shares. They touch only riscv64 (no other test of the project
// builds it), save its handler first and put it back exactly as it was.

// keepRiscv64 saves the handler that serves riscv64, removes it so the test
// starts from an unregistered riscv64, and restores it when the test ends.
func keepRiscv64(t *testing.T) emulation.Arch {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the emulation end-to-end tests need root (binfmt_misc)")
	}
	a, _ := emulation.Lookup("riscv64")
	saved, had := riscv64Entry(t)
	clear := func() {
		if e, ok := riscv64Entry(t); ok {
			if err := os.WriteFile(filepath.Join(emulation.DefaultRoot, e.Name), []byte("-1"), 0); err != nil {
				t.Errorf("removing %s: %v", e.Name, err)
			}
		}
	}
	restore := func() {
		clear()
		if had {
			if err := testenv.RestoreHandler(saved); err != nil {
				t.Errorf("restoring the riscv64 handler: %v", err)
			}
		}
	}
	clear()
	t.Cleanup(func() {
		restore()
		if now, ok := riscv64Entry(t); ok != had || had && !reflect.DeepEqual(now, saved) {
			t.Errorf("riscv64 handler not restored: had %v %+v, now %v %+v", had, saved, ok, now)
		}
	})
	return a
}

func riscv64Entry(t *testing.T) (emulation.Entry, bool) {
	t.Helper()
	entries, err := emulation.Entries(emulation.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := emulation.Lookup("riscv64")
	for _, e := range entries {
		if e.Serves(a) {
			return e, true
		}
	}
	return emulation.Entry{}, false
}

func kernelState(t *testing.T) []emulation.Entry {
	t.Helper()
	entries, err := emulation.Entries(emulation.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

type statusJSON struct {
	Arches  []emulation.ArchStatus `json:"arches"`
	Builder *struct {
		Address   string   `json:"address"`
		Platforms []string `json:"platforms"`
		Error     string   `json:"error"`
	} `json:"builder"`
}

func status(t *testing.T, e testenv.Env, arch string) (emulation.ArchStatus, statusJSON) {
	t.Helper()
	r := e.Run(t, "emulation", "status", "--format", "json")
	if r.ExitCode != 0 {
		t.Fatalf("status exited %d: %s", r.ExitCode, r.Stderr)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, r.Stdout)
	}
	for _, s := range st.Arches {
		if s.Arch == arch {
			return s, st
		}
	}
	t.Fatalf("status has no row for %s", arch)
	return emulation.ArchStatus{}, st
}

// riscv64Program cross-compiles a static Go program for riscv64 that prints
// its GOARCH, and writes it to /arch.txt when given an argument.
func riscv64Program(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "main.go")
	if err := os.WriteFile(src, []byte(`package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Println(runtime.GOARCH)
	if len(os.Args) > 1 {
		if err := os.WriteFile(os.Args[1], []byte(runtime.GOARCH+"\n"), 0o644); err != nil {
			panic(err)
		}
	}
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "hello")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=riscv64", "CGO_ENABLED=0", "GO111MODULE=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cross-compiling for riscv64: %v\n%s", err, b)
	}
	return out
}

// TestEmulationHostLifecycle: install riscv64 → status says it works → a
// real riscv64 program runs → uninstall → status shows it gone → a build
// for linux/riscv64 fails in preflight with the remedy → the same build
// with --install-emulators passes and says riscv64 was emulated.
func TestEmulationHostLifecycle(t *testing.T) {
	e := testenv.Get(t)
	keepRiscv64(t)
	ctxDir := t.TempDir()
	prog := riscv64Program(t, ctxDir)

	r := e.Run(t, "emulation", "install", "--via", "host", "riscv64")
	if r.ExitCode != 0 || !strings.Contains(r.Stderr, "riscv64  installed (host) /usr/bin/qemu-riscv64-static") {
		t.Fatalf("install exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	st, _ := status(t, e, "riscv64")
	if !st.Registered || !st.Enabled || !st.FixBinary || !st.Static || !st.Works || st.Entry != "qemu-riscv64" {
		t.Fatalf("after install riscv64 = %+v", st)
	}
	if out, err := exec.Command(prog).Output(); err != nil || string(out) != "riscv64\n" {
		t.Fatalf("running a riscv64 program: %q, %v", out, err)
	}
	again := e.Run(t, "emulation", "install", "--via", "host", "riscv64")
	if again.ExitCode != 0 || !strings.Contains(again.Stderr, "already installed") || !strings.Contains(again.Stderr, "nothing changed") {
		t.Errorf("second install exited %d:\n%s", again.ExitCode, again.Stderr)
	}

	r = e.Run(t, "emulation", "uninstall", "riscv64")
	if r.ExitCode != 0 || !strings.Contains(r.Stderr, "removed qemu-riscv64") {
		t.Fatalf("uninstall exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	st, _ = status(t, e, "riscv64")
	if st.Registered || st.Works || !strings.Contains(st.WorksError, "exec format error") {
		t.Fatalf("after uninstall riscv64 = %+v", st)
	}
	table := e.Run(t, "emulation", "status")
	if !strings.Contains(table.Stdout, "WORKS") || !strings.Contains(table.Stdout, "builder "+e.BuildkitHost+" runs: linux/amd64") {
		t.Errorf("status table:\n%s", table.Stdout)
	}

	// A builder started now, without the handler, does not list riscv64.
	bk := e.PrivateBuildkitd(t)
	writeDockerfile(t, ctxDir, "FROM scratch\nCOPY hello /hello\nRUN [\"/hello\", \"/arch.txt\"]\n")
	repo := uniqueRepo(e, "riscv")
	build := []string{"build", "--builder", bk, "--insecure", "--progress", "plain", "--platform", "linux/amd64,linux/riscv64", "-t", repo + ":1", ctxDir}
	r = e.Run(t, build...)
	checkRefused(t, r, "cannot run linux/riscv64")
	if !strings.Contains(r.Stderr, "sudo mab emulation install riscv64") || !strings.Contains(r.Stderr, "--install-emulators") {
		t.Errorf("the preflight error names no remedy: %s", r.Stderr)
	}
	assertRepoEmpty(t, repo)

	r = e.Run(t, append([]string{"build", "--install-emulators"}, build[1:]...)...)
	if r.ExitCode != 0 {
		t.Fatalf("build --install-emulators exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	for _, want := range []string{"riscv64  installed (host)", "linux/riscv64  ok      emulated", "linux/amd64    ok      native"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("build output lacks %q:\n%s", want, r.Stderr)
		}
	}
}

// TestEmulationStaleBuilderList: BuildKit keeps listing a platform after its
// handler is removed; preflight still catches it on a local builder.
func TestEmulationStaleBuilderList(t *testing.T) {
	e := testenv.Get(t)
	keepRiscv64(t)
	ctxDir := t.TempDir()
	riscv64Program(t, ctxDir)
	if r := e.Run(t, "emulation", "install", "riscv64"); r.ExitCode != 0 {
		t.Fatalf("install: %s", r.Stderr)
	}
	bk := e.PrivateBuildkitd(t) // detects riscv64 now
	if _, st := status(t, e, "riscv64"); st.Builder == nil {
		t.Fatal("status lists no builder")
	}
	if r := e.Run(t, "emulation", "uninstall", "riscv64"); r.ExitCode != 0 {
		t.Fatalf("uninstall: %s", r.Stderr)
	}
	writeDockerfile(t, ctxDir, "FROM scratch\nCOPY hello /hello\nRUN [\"/hello\"]\n")
	repo := uniqueRepo(e, "stale")
	r := e.Run(t, "build", "--builder", bk, "--insecure", "--platform", "linux/riscv64", "-t", repo+":1", ctxDir)
	checkRefused(t, r, "exec format error")
	if !strings.Contains(r.Stderr, "sudo mab emulation install riscv64") {
		t.Errorf("no remedy: %s", r.Stderr)
	}
}

// TestEmulationBadInput: each bad input is a one-line error, exit code 1,
// and leaves the kernel's binfmt_misc exactly as it was.
func TestEmulationBadInput(t *testing.T) {
	e := testenv.Get(t)
	keepRiscv64(t)
	empty := t.TempDir()
	dynamic := filepath.Join(t.TempDir(), "qemu-riscv64-static")
	b, err := os.ReadFile("/bin/true") // dynamically linked on Debian
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dynamic, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// nobody must be able to run the binary: a copy in a folder it can read.
	pub, err := os.MkdirTemp("", "mab-pub-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	mabBytes, err := os.ReadFile(e.Mab(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pub, "mab"), mabBytes, 0o755); err != nil {
		t.Fatal(err)
	}
	asNobody := func(c *exec.Cmd) {
		c.Path = filepath.Join(pub, "mab")
		c.Dir = pub
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	withEnv := func(kv ...string) func(*exec.Cmd) {
		return func(c *exec.Cmd) { c.Env = append(c.Env, kv...) }
	}
	none := func(*exec.Cmd) {}
	cases := []struct {
		name string
		edit func(*exec.Cmd)
		args []string
		want []string
	}{
		{"unknown arch", none, []string{"install", "sparc99"}, []string{`unknown architecture "sparc99"`, "known: amd64, 386, arm64, arm, riscv64"}},
		{"unknown arch uninstall", none, []string{"uninstall", "vax"}, []string{"known: amd64"}},
		{"not root", asNobody, []string{"install", "--via", "host", "riscv64"}, []string{"needs root", "sudo mab emulation install"}},
		{"not root uninstall", asNobody, []string{"uninstall", "--via", "host", "riscv64"}, []string{"needs root"}},
		{"binfmt_misc not mountable", none, []string{"install", "--via", "host", "--binfmt-root", filepath.Join(empty, "nope"), "riscv64"}, []string{"binfmt_misc is not mounted at", "mounting it failed"}},
		{"QEMU missing", withEnv("PATH=" + empty), []string{"install", "--via", "host", "--qemu-dir", empty, "riscv64"}, []string{"qemu-riscv64-static not found", "Debian's qemu-user-static", "Fedora's qemu-user-static-riscv64"}},
		{"dynamic QEMU", none, []string{"install", "--via", "host", "--qemu-dir", filepath.Dir(dynamic), "riscv64"}, []string{"dynamically linked"}},
		{"Docker unreachable", none, []string{"install", "--via", "docker", "riscv64"}, []string{"cannot reach the Docker daemon at unix:///nonexistent/docker.sock"}},
		{"bad --via", none, []string{"install", "--via", "ssh", "riscv64"}, []string{`invalid --via "ssh"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := kernelState(t)
			edit := func(cmd *exec.Cmd) {
				cmd.Env = append(cmd.Env, "DOCKER_HOST=unix:///nonexistent/docker.sock")
				c.edit(cmd)
			}
			r := e.RunWith(t, edit, append([]string{"emulation"}, c.args...)...)
			if r.ExitCode != 1 {
				t.Fatalf("exit code %d, want 1:\n%s", r.ExitCode, r.Stderr)
			}
			if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "mab: ") {
				t.Errorf("stderr is not one error line: %q", r.Stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("error %q lacks %q", strings.TrimSpace(r.Stderr), w)
				}
			}
			if after := kernelState(t); !reflect.DeepEqual(before, after) {
				t.Errorf("binfmt_misc changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// TestEmulationDockerInstaller runs the Docker installer on the
// environment's dockerd with a local stand-in for tonistiigi/binfmt, and
// checks the handler it registers in the (here shared) kernel.
func TestEmulationDockerInstaller(t *testing.T) {
	e := testenv.Get(t)
	keepRiscv64(t)
	image := e.InstallerImage(t, "riscv64")
	dockerHost := e.DockerHost
	withDocker := func(c *exec.Cmd) { c.Env = append(c.Env, "DOCKER_HOST="+dockerHost) }

	r := e.RunWith(t, withDocker, "emulation", "install", "--via", "docker", "--image", image, "riscv64")
	if r.ExitCode != 0 || !strings.Contains(r.Stderr, "riscv64  installed (docker)") {
		t.Fatalf("docker install exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	st, _ := status(t, e, "riscv64")
	if !st.Registered || !st.FixBinary || !st.Works || st.Entry != "qemu-riscv64" {
		t.Fatalf("after the docker install riscv64 = %+v", st)
	}
	// The interpreter lives in the removed container; F keeps it open.
	if st.InterpreterExists {
		t.Logf("interpreter %s also exists on the host", st.Interpreter)
	}

	// --via auto picks Docker for a docker-container:// builder.
	r = e.RunWith(t, withDocker, "emulation", "install", "--builder", "docker-container://buildkitd", "--image", image, "riscv64")
	if r.ExitCode != 0 || !strings.Contains(r.Stderr, "already installed (docker)") {
		t.Errorf("auto (docker) reinstall exited %d:\n%s", r.ExitCode, r.Stderr)
	}

	r = e.RunWith(t, withDocker, "emulation", "uninstall", "--via", "docker", "--image", image, "riscv64")
	if r.ExitCode != 0 || !strings.Contains(r.Stderr, "removed qemu-riscv64") {
		t.Fatalf("docker uninstall exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	if st, _ := status(t, e, "riscv64"); st.Registered {
		t.Errorf("riscv64 still registered after the docker uninstall: %+v", st)
	}

	// No installer container is left behind.
	ps := exec.Command("docker", "ps", "-aq", "--filter", "label=org.mab-build.role=binfmt-installer")
	ps.Env = append(os.Environ(), "DOCKER_HOST="+dockerHost)
	if out, err := ps.Output(); err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("installer containers left: %q, %v", out, err)
	}

	// A missing image is one line naming the way out.
	before := kernelState(t)
	r = e.RunWith(t, withDocker, "emulation", "install", "--via", "docker", "--image", "127.0.0.1:1/nope:1", "riscv64")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "pulling installer image") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Errorf("missing image: exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	if after := kernelState(t); !reflect.DeepEqual(before, after) {
		t.Errorf("binfmt_misc changed by a failed install")
	}
}

// TestBuildInstallEmulatorsThroughDocker: the builder is the Docker
// daemon's BuildKit, so --install-emulators picks the Docker installer (a
// local stand-in image here), waits for the daemon's BuildKit to list
// riscv64 and builds it there.
func TestBuildInstallEmulatorsThroughDocker(t *testing.T) {
	e := testenv.Get(t)
	keepRiscv64(t)
	addr := "docker+" + e.DockerHost
	if dockerListsRiscv64(t, addr) {
		// BuildKit never forgets a platform it once listed: a fresh daemon
		// does not know riscv64 while no handler is registered.
		e.RestartDockerd(t)
		if dockerListsRiscv64(t, addr) {
			t.Fatal("dockerd's BuildKit lists linux/riscv64 although no handler is registered")
		}
	}
	image := e.InstallerImage(t, "riscv64")
	ctxDir := t.TempDir()
	riscv64Program(t, ctxDir)
	writeDockerfile(t, ctxDir, "FROM scratch\nCOPY hello /hello\nRUN [\"/hello\", \"/arch.txt\"]\n")
	repo := uniqueRepo(e, "riscv-docker")
	r := e.Run(t, "build", "--builder", addr, "--install-emulators", "--emulator-image", image,
		"--insecure", "--progress", "plain", "--platform", "linux/amd64,linux/riscv64", "-t", repo+":1", ctxDir)
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	for _, want := range []string{"riscv64  installed (docker)", "linux/riscv64  ok      emulated"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("build output lacks %q:\n%s", want, r.Stderr)
		}
	}
	img, err := remote.Image(mustRef(t, repo+":1-riscv64"))
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, img, "arch.txt"); got != "riscv64\n" {
		t.Errorf("/arch.txt = %q, want the riscv64 program's own report", got)
	}
}

func dockerListsRiscv64(t *testing.T, addr string) bool {
	t.Helper()
	ctx := context.Background()
	bk, err := builder.Dial(ctx, addr, builder.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	have, err := bk.Platforms(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range have {
		if p.Architecture == "riscv64" {
			return true
		}
	}
	return false
}
