package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBuilderStopLeavesOtherProcessesAlone: a pid file that names a
// process other than mab's buildkitd is removed, said so, and the process
// keeps running.
func TestBuilderStopLeavesOtherProcessesAlone(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	pidFile := filepath.Join(state, "mab", "buildkitd.pid")
	if err := os.MkdirAll(filepath.Dir(pidFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(sleep.Process.Pid)), 0o600); err != nil {
		t.Fatal(err)
	}
	waitForExec(t, sleep.Process.Pid)
	_, stderr, err := run(t, "builder", "stop")
	if err != nil || !strings.Contains(stderr, "removed the stale pid file "+pidFile) || !strings.Contains(stderr, `"sleep 60", not buildkitd`) {
		t.Errorf("builder stop: %v\n%s", err, stderr)
	}
	if syscall.Kill(sleep.Process.Pid, 0) != nil {
		t.Error("builder stop signalled a process that is not mab's buildkitd")
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Error("the stale pid file is still there")
	}
}

// waitForExec waits until /proc shows the command line of pid: Start
// returns while the kernel may still be setting it up.
func waitForExec(t *testing.T, pid int) {
	t.Helper()
	for range 500 {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); len(b) > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d shows no command line", pid)
}
