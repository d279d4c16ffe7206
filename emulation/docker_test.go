package emulation

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeDocker is an Engine API on a unix socket that answers like a daemon
// running the installer: its first (privileged) start fails as on a
// daemon that cannot grant every capability.
type fakeDocker struct {
	mu       sync.Mutex
	created  []map[string]any
	removed  int
	stderr   string
	stdout   string
	started  int
	failPriv bool
}

func (f *fakeDocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := r.URL.Path
	switch {
	case p == "/_ping":
		w.Header().Set("API-Version", "1.41")
	case strings.HasPrefix(p, "/v1.41/images/"):
		w.Write([]byte("{}"))
	case p == "/v1.41/containers/create":
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.created = append(f.created, body)
		w.Write([]byte(`{"Id":"c1"}`))
	case strings.HasSuffix(p, "/start"):
		hc := f.created[len(f.created)-1]["HostConfig"].(map[string]any)
		if f.failPriv && hc["Privileged"] == true {
			w.WriteHeader(500)
			w.Write([]byte(`{"message":"runc create failed: unable to apply caps: operation not permitted"}`))
			return
		}
		f.started++
		w.WriteHeader(204)
	case strings.HasSuffix(p, "/wait"):
		w.Write([]byte(`{"StatusCode":0}`))
	case strings.HasSuffix(p, "/logs"):
		for _, fr := range []struct {
			stream byte
			data   string
		}{{2, f.stderr}, {1, f.stdout}} {
			hdr := make([]byte, 8)
			hdr[0] = fr.stream
			binary.BigEndian.PutUint32(hdr[4:], uint32(len(fr.data)))
			w.Write(hdr)
			w.Write([]byte(fr.data))
		}
	case r.Method == http.MethodDelete:
		f.removed++
		w.WriteHeader(204)
	default:
		w.WriteHeader(404)
		w.Write([]byte(`{"message":"unexpected ` + p + `"}`))
	}
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
	rep, err := InstallDocker(context.Background(), []Arch{riscv}, DockerOptions{Host: host, Image: "local/binfmt:1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Outcomes) != 1 || rep.Outcomes[0].Action != "installed" {
		t.Errorf("outcomes %+v", rep.Outcomes)
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
	_, err := InstallDocker(context.Background(), []Arch{riscv, s390x}, DockerOptions{Host: host})
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
	_, err := InstallDocker(context.Background(), []Arch{riscv}, DockerOptions{Host: "unix:///nonexistent/docker.sock"})
	if err == nil || !strings.Contains(err.Error(), "Docker daemon unreachable at unix:///nonexistent/docker.sock") || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v", err)
	}
	_, err = InstallDocker(context.Background(), []Arch{riscv}, DockerOptions{Host: "ssh://me@host"})
	if err == nil || !strings.Contains(err.Error(), "unix:// or tcp://") {
		t.Errorf("ssh host: err = %v", err)
	}
}

func TestDemux(t *testing.T) {
	var b bytes.Buffer
	for _, fr := range []struct {
		s byte
		d string
	}{{1, "out1 "}, {2, "err"}, {1, "out2"}} {
		hdr := make([]byte, 8)
		hdr[0] = fr.s
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(fr.d)))
		b.Write(hdr)
		b.WriteString(fr.d)
	}
	out, errb, err := demux(&b)
	if err != nil || string(out) != "out1 out2" || string(errb) != "err" {
		t.Errorf("demux = %q, %q, %v", out, errb, err)
	}
}

func TestVersionLess(t *testing.T) {
	if !versionLess("1.41", "1.47") || versionLess("1.52", "1.47") || versionLess("1.47", "1.47") || !versionLess("1.9", "1.10") {
		t.Error("versionLess compares wrongly")
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
