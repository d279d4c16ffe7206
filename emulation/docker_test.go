package emulation

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mab-build/mab/internal/dockerapi"
)

// fakeDocker is an Engine API on a unix socket that answers like a daemon
// running the installer: its first (privileged) start fails as on a
// daemon that cannot grant every capability. It speaks API 1.41 (dockerd
// 20.10) only, so every call must come after version negotiation.
type fakeDocker struct {
	mu       sync.Mutex
	created  []map[string]any
	removed  int
	stderr   string
	stdout   string
	started  int
	failPriv bool
	failCaps bool     // the fallback's start fails too
	missing  bool     // the image is not there until pulled
	pulls    []string // queries of /images/create
	failPull bool     // the pull fails as for an unreachable registry
	// uninstallStderr, when set, is what an --uninstall container prints
	// on stderr (stdout stays stdout).
	uninstallStderr string
	// exitCode is the status of every --install container.
	exitCode int
	// onWait, when set, is called as the wait for an --install container
	// begins, which then lasts until the request ends or the container is
	// killed: an installer interrupted while it runs.
	onWait func()
	kills  int
	killed chan struct{}
	cmds   map[string]string // container id → its first argument
}

func (f *fakeDocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/_ping" {
		w.Header().Set("API-Version", "1.41")
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, "/v1.41")
	switch {
	case !ok:
		w.WriteHeader(404)
		w.Write([]byte(`{"message":"unexpected API version in ` + r.URL.Path + `"}`))
	case p == "/images/create":
		f.pulls = append(f.pulls, r.URL.RawQuery)
		if f.failPull {
			w.WriteHeader(500)
			w.Write([]byte(`{"message":"Get \"https://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused"}`))
			return
		}
		f.missing = false
		w.Write([]byte(`{"status":"Pulling fs layer"}` + "\n" + `{"status":"Download complete"}` + "\n"))
	case strings.HasPrefix(p, "/images/"):
		if f.missing {
			w.WriteHeader(404)
			w.Write([]byte(`{"message":"No such image"}`))
			return
		}
		w.Write([]byte("{}"))
	case p == "/containers/create":
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.created = append(f.created, body)
		id := fmt.Sprintf("c%d", len(f.created))
		if f.cmds == nil {
			f.cmds = map[string]string{}
		}
		if cmd, _ := body["Cmd"].([]any); len(cmd) > 0 {
			f.cmds[id], _ = cmd[0].(string)
		}
		w.Write([]byte(`{"Id":"` + id + `"}`))
	case strings.HasSuffix(p, "/kill"):
		f.kills++
		if f.killed != nil {
			close(f.killed)
			f.killed = nil
		}
		w.WriteHeader(204)
	case strings.HasSuffix(p, "/wait") && f.onWait != nil && f.cmds[containerID(p)] == "--install" && r.URL.Query().Get("condition") != "not-running":
		f.killed = make(chan struct{})
		killed := f.killed
		f.onWait()
		f.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-killed:
			w.Write([]byte(`{"StatusCode":137}`))
		}
		f.mu.Lock()
	case strings.HasSuffix(p, "/start"):
		hc := f.created[len(f.created)-1]["HostConfig"].(map[string]any)
		if f.failPriv && hc["Privileged"] == true || f.failCaps && hc["Privileged"] != true {
			w.WriteHeader(500)
			w.Write([]byte(`{"message":"runc create failed: unable to apply caps: operation not permitted"}`))
			return
		}
		f.started++
		w.WriteHeader(204)
	case strings.HasSuffix(p, "/wait"):
		code := 0
		if f.cmds[containerID(p)] == "--install" {
			code = f.exitCode
		}
		fmt.Fprintf(w, `{"StatusCode":%d}`, code)
	case strings.HasSuffix(p, "/logs"):
		stderr := f.stderr
		if f.uninstallStderr != "" && f.cmds[containerID(p)] == "--uninstall" {
			stderr = f.uninstallStderr
		}
		// stdout in two frames around stderr, as a real stream interleaves.
		half := len(f.stdout) / 2
		for _, fr := range []struct {
			stream byte
			data   string
		}{{1, f.stdout[:half]}, {2, stderr}, {1, f.stdout[half:]}} {
			hdr := make([]byte, 8)
			hdr[0] = fr.stream
			binary.BigEndian.PutUint32(hdr[4:], uint32(len(fr.data)))
			w.Write(hdr)
			w.Write([]byte(fr.data))
		}
	case r.Method == http.MethodDelete && r.URL.Query().Get("force") == "1":
		f.removed++
		w.WriteHeader(204)
	default:
		w.WriteHeader(404)
		w.Write([]byte(`{"message":"unexpected ` + r.Method + " " + p + `"}`))
	}
}

// containerID is the id in an API path /containers/ID/....
func containerID(p string) string {
	rest, _ := strings.CutPrefix(p, "/containers/")
	id, _, _ := strings.Cut(rest, "/")
	return id
}

func serveFake(t *testing.T, f *fakeDocker) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "unix://" + sock
}

func TestInstallDockerFallsBackFromPrivilegedAndRemovesContainers(t *testing.T) {
	f := &fakeDocker{failPriv: true,
		stderr: "installing: riscv64 OK\n",
		stdout: `{"supported":["linux/amd64","linux/riscv64"],"emulators":["qemu-riscv64"]}`}
	host := serveFake(t, f)
	riscv, _ := Lookup("riscv64")
	out, err := Docker{Host: host, Image: "local/binfmt:1"}.Install(context.Background(), []Arch{riscv})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Action != ActionInstalled || out[0].Entry != "qemu-riscv64" || out[0].Interpreter != "(in local/binfmt:1)" {
		t.Errorf("outcomes %+v", out)
	}
	if len(f.created) != 2 || f.removed != 2 || f.started != 1 {
		t.Errorf("created %d, started %d, removed %d containers; want 2, 1, 2", len(f.created), f.started, f.removed)
	}
	second := f.created[1]["HostConfig"].(map[string]any)
	if second["Privileged"] == true || !strings.Contains(jsonOf(second), "SYS_ADMIN") || !strings.Contains(jsonOf(second), `"MaskedPaths":[]`) {
		t.Errorf("fallback host config %s", jsonOf(second))
	}
	if got := jsonOf(f.created[0]["Cmd"]); got != `["--install","riscv64"]` {
		t.Errorf("installer args %s", got)
	}
}

func TestInstallDockerFailureRollsBack(t *testing.T) {
	f := &fakeDocker{
		stderr: "installing: riscv64 OK\ninstalling: s390x cannot register: no such file\n",
		stdout: `{"supported":["linux/amd64","linux/riscv64"],"emulators":["qemu-riscv64"]}`}
	host := serveFake(t, f)
	riscv, _ := Lookup("riscv64")
	s390x, _ := Lookup("s390x")
	_, err := Docker{Host: host}.Install(context.Background(), []Arch{riscv, s390x})
	if err == nil || !strings.Contains(err.Error(), "s390x: cannot register") {
		t.Fatalf("err = %v", err)
	}
	last := jsonOf(f.created[len(f.created)-1]["Cmd"])
	if last != `["--uninstall","qemu-riscv64"]` {
		t.Errorf("no rollback of riscv64: last installer args %s", last)
	}
}

func TestInstallDockerUnreachable(t *testing.T) {
	riscv, _ := Lookup("riscv64")
	_, err := Docker{Host: "unix:///nonexistent/docker.sock"}.Install(context.Background(), []Arch{riscv})
	if !errors.Is(err, dockerapi.ErrUnreachable) || !strings.Contains(err.Error(), "cannot reach the Docker daemon at unix:///nonexistent/docker.sock") || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v", err)
	}
	_, err = Docker{Host: "ssh://me@host"}.Install(context.Background(), []Arch{riscv})
	if !errors.Is(err, dockerapi.ErrUnsupportedHost) || !strings.Contains(err.Error(), "unix:// or tcp://") {
		t.Errorf("ssh host: err = %v", err)
	}
}

func TestInstallDockerNamesBothFailedStarts(t *testing.T) {
	f := &fakeDocker{failPriv: true, failCaps: true}
	host := serveFake(t, f)
	riscv, _ := Lookup("riscv64")
	_, err := Docker{Host: host}.Install(context.Background(), []Arch{riscv})
	want := "starting the installer container: privileged: runc create failed: unable to apply caps: operation not permitted; with CAP_SYS_ADMIN: runc create failed"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "Error response") {
		t.Errorf("err = %v\nwant it to contain %q", err, want)
	}
	if len(f.created) != 2 || f.removed != 2 {
		t.Errorf("created %d, removed %d containers; want 2, 2", len(f.created), f.removed)
	}
}

func TestInstallDockerPullsMissingImageByDigest(t *testing.T) {
	f := &fakeDocker{missing: true,
		stderr: "installing: riscv64 OK\n",
		stdout: `{"supported":["linux/amd64","linux/riscv64"],"emulators":["qemu-riscv64"]}`}
	host := serveFake(t, f)
	riscv, _ := Lookup("riscv64")
	if _, err := (Docker{Host: host}).Install(context.Background(), []Arch{riscv}); err != nil {
		t.Fatal(err)
	}
	repo, dgst, _ := strings.Cut(DefaultInstallerImage, "@")
	want := url.Values{"fromImage": {repo}, "tag": {dgst}}.Encode()
	if len(f.pulls) != 1 || f.pulls[0] != want {
		t.Errorf("pulls %q, want [%q]", f.pulls, want)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDockerPullFailureIsInstallerImageError(t *testing.T) {
	f := &fakeDocker{missing: true}
	host := serveFake(t, f)
	f.failPull = true
	riscv, _ := Lookup("riscv64")
	_, err := Docker{Host: host, Image: "127.0.0.1:1/nope:1"}.Install(context.Background(), []Arch{riscv})
	var ie *InstallerImageError
	if !errors.As(err, &ie) || ie.Image != "127.0.0.1:1/nope:1" || !strings.HasPrefix(err.Error(), "pulling installer image 127.0.0.1:1/nope:1: ") {
		t.Errorf("err = %v, want an *InstallerImageError", err)
	}
	if len(f.created) != 0 {
		t.Errorf("%d containers created without the image", len(f.created))
	}
}

func TestDockerUninstallReportsRemovedEntries(t *testing.T) {
	f := &fakeDocker{
		stderr: "uninstalling: qemu-riscv64 OK\nuninstalling: qemu-s390x not found\n",
		stdout: `{"supported":["linux/amd64"],"emulators":[]}`}
	host := serveFake(t, f)
	riscv, _ := Lookup("riscv64")
	s390x, _ := Lookup("s390x")
	out, err := Docker{Host: host}.Uninstall(context.Background(), []Arch{riscv, s390x}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0] != (Outcome{Arch: "riscv64", Action: ActionRemoved, Entry: "qemu-riscv64"}) {
		t.Errorf("outcomes %+v", out)
	}
	if got := jsonOf(f.created[0]["Cmd"]); got != `["--uninstall","qemu-riscv64,qemu-s390x"]` {
		t.Errorf("installer args %s", got)
	}
}

// TestInstallDockerRollsBackWhenInstallerFails: the installer registered
// riscv64, then stopped with an error: riscv64 is removed again.
func TestInstallDockerRollsBackWhenInstallerFails(t *testing.T) {
	f := &fakeDocker{exitCode: 1,
		stderr:          "installing: riscv64 OK\nerror: cannot mount binfmt_misc: operation not permitted\n",
		uninstallStderr: "uninstalling: qemu-riscv64 OK\n", stdout: `{"supported":["linux/amd64"]}`}
	host := serveFake(t, f)
	riscv, _ := Lookup("riscv64")
	s390x, _ := Lookup("s390x")
	_, err := Docker{Host: host}.Install(context.Background(), []Arch{riscv, s390x})
	if err == nil || !strings.Contains(err.Error(), "exited 1: cannot mount binfmt_misc") || strings.Contains(err.Error(), "removing") {
		t.Fatalf("err = %v, want the installer's failure and a rollback that worked", err)
	}
	if last := jsonOf(f.created[len(f.created)-1]["Cmd"]); len(f.created) != 2 || last != `["--uninstall","qemu-riscv64"]` {
		t.Errorf("%d containers, the last with %s; want the rollback of riscv64", len(f.created), last)
	}
	if f.removed != len(f.created) {
		t.Errorf("removed %d of %d containers", f.removed, len(f.created))
	}
}

// TestInstallDockerRollsBackWhenInterrupted: ctx ends while the installer
// runs, after it registered riscv64: the container is killed, its log read
// and riscv64 removed, under a context that is not the cancelled one.
func TestInstallDockerRollsBackWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeDocker{onWait: cancel,
		stderr:          "installing: riscv64 OK\n",
		uninstallStderr: "uninstalling: qemu-riscv64 OK\n", stdout: `{"supported":["linux/amd64"]}`}
	host := serveFake(t, f)
	riscv, _ := Lookup("riscv64")
	s390x, _ := Lookup("s390x")
	_, err := Docker{Host: host}.Install(ctx, []Arch{riscv, s390x})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want the interruption", err)
	}
	if f.kills != 1 {
		t.Errorf("the running installer was killed %d times, want 1", f.kills)
	}
	if last := jsonOf(f.created[len(f.created)-1]["Cmd"]); len(f.created) != 2 || last != `["--uninstall","qemu-riscv64"]` {
		t.Errorf("%d containers, the last with %s; want the rollback of riscv64", len(f.created), last)
	}
	if f.removed != len(f.created) {
		t.Errorf("removed %d of %d containers", f.removed, len(f.created))
	}
}

// TestInstallDockerReportsFailedRollback: what the rollback could not
// remove is in the error, not dropped.
func TestInstallDockerReportsFailedRollback(t *testing.T) {
	f := &fakeDocker{exitCode: 1,
		stderr:          "installing: riscv64 OK\nerror: boom\n",
		uninstallStderr: "uninstalling: qemu-riscv64 cannot remove: device busy\n", stdout: `{"supported":["linux/amd64"]}`}
	host := serveFake(t, f)
	riscv, _ := Lookup("riscv64")
	_, err := Docker{Host: host}.Install(context.Background(), []Arch{riscv})
	if err == nil || !strings.Contains(err.Error(), "exited 1: boom") || !strings.Contains(err.Error(), "qemu-riscv64: cannot remove: device busy") {
		t.Errorf("err = %v, want the failure and the failed rollback", err)
	}
}

// TestInstallDockerNamesEachArchOnce: arm64 and aarch64 are one argument.
func TestInstallDockerNamesEachArchOnce(t *testing.T) {
	f := &fakeDocker{stderr: "installing: arm64 OK\n", stdout: `{"supported":["linux/amd64","linux/arm64"]}`}
	host := serveFake(t, f)
	arm64, _ := Lookup("arm64")
	aarch64, _ := Lookup("aarch64")
	if arm64.Native() {
		t.Skip("arm64 is native here")
	}
	out, err := Docker{Host: host}.Install(context.Background(), []Arch{arm64, aarch64})
	if err != nil || len(out) != 1 {
		t.Fatalf("outcomes %+v, %v; want one", out, err)
	}
	if got := jsonOf(f.created[0]["Cmd"]); got != `["--install","arm64"]` {
		t.Errorf("installer args %s", got)
	}
}
