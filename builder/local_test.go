package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for buildkitd: run as
// "buildkitd --root DIR ..." with MAB_TEST_FAKE_BUILDKITD set, it waits
// for a signal.
func TestMain(m *testing.M) {
	if os.Getenv("MAB_TEST_FAKE_BUILDKITD") != "" {
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startProcess starts the test binary with argv (argv[0] is what /proc
// shows) and writes its pid to mab's pid file.
func startProcess(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Args = argv
	cmd.Env = append(os.Environ(), "MAB_TEST_FAKE_BUILDKITD=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 500; i++ { // Start returns before /proc shows argv
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid)); len(b) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.MkdirAll(StateDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(StateDir(), "buildkitd.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestStopLocalSignalsOnlyMabsBuildkitd: a pid file that names another
// program, or a buildkitd of another state folder, is removed as stale
// and that process keeps running; mab's own buildkitd is stopped.
func TestStopLocalSignalsOnlyMabsBuildkitd(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	pidFile := filepath.Join(StateDir(), "buildkitd.pid")
	for _, argv := range [][]string{
		{"sleep", "60"},
		{"/usr/bin/buildkitd", "--root", "/var/lib/buildkit"},
		{"/opt/not-buildkitd", "--root", filepath.Join(StateDir(), "buildkitd")},
	} {
		cmd := startProcess(t, argv...)
		res, err := StopLocal()
		if err != nil || res.Stopped || !strings.Contains(res.Stale, "not buildkitd with state in "+StateDir()) {
			t.Errorf("%v: StopLocal = %+v, %v; want a stale pid file", argv, res, err)
		}
		if syscall.Kill(cmd.Process.Pid, 0) != nil {
			t.Errorf("%v: the process was signalled", argv)
		}
		if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v: the stale pid file is still there", argv)
		}
	}

	cmd := startProcess(t, "/usr/local/bin/buildkitd", "--root", filepath.Join(StateDir(), "buildkitd"), "--addr", LocalAddress())
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	res, err := StopLocal()
	if err != nil || !res.Stopped || res.PID != cmd.Process.Pid {
		t.Fatalf("StopLocal = %+v, %v; want mab's buildkitd stopped", res, err)
	}
	<-exited
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Error("the pid file is still there after the stop")
	}

	// A pid that no process has.
	if err := os.WriteFile(pidFile, []byte(fmt.Sprint(1<<22+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := StopLocal(); err != nil || !strings.Contains(res.Stale, "no process") {
		t.Errorf("dead pid: %+v, %v", res, err)
	}
	if res, err := StopLocal(); err != nil || res.PID != 0 || res.Stale != "" || res.Stopped {
		t.Errorf("no pid file: %+v, %v", res, err)
	}
}

// TestDiscoverErrorIsShort: with no builder anywhere the error names each
// endpoint tried with a few words, on one short line.
func TestDiscoverErrorIsShort(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	t.Setenv("PATH", t.TempDir())
	if DefaultSocketExists() {
		t.Skip("a buildkitd listens at the default socket")
	}
	_, tried, err := Discover(context.Background())
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{DefaultAddress + ": no socket", "docker: no Docker daemon", LocalAddress() + ": no socket", "buildkitd from PATH: no buildkitd on PATH"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if len(msg) > 300 || strings.Contains(msg, "\n") {
		t.Errorf("error is %d characters, want one short line: %s", len(msg), msg)
	}
	if len(tried) != 4 {
		t.Errorf("tried %d candidates, want 4", len(tried))
	}
}
