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
	"time"
)

// StateDir is where mab keeps the buildkitd it starts itself:
// $XDG_STATE_HOME/mab, or ~/.local/state/mab.
func StateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "mab")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state", "mab")
}

// LocalAddress is the socket of mab's own buildkitd.
func LocalAddress() string { return "unix://" + filepath.Join(StateDir(), "buildkitd.sock") }

// Candidate is one endpoint Discover tried.
type Candidate struct {
	Address string
	// Why it was, or was not, taken.
	Note string
	OK   bool
}

// Discover finds a builder when none was given: a buildkitd at the
// default socket, then the Docker daemon, then mab's own buildkitd, started
// from PATH when it does not run yet (its state stays in StateDir for the
// next build; `mab builder stop` ends it). It returns the address taken and
// every candidate tried.
func Discover(ctx context.Context) (string, []Candidate, error) {
	var tried []Candidate
	probe := func(addr string) bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := Probe(ctx, addr, TLS{}); err != nil {
			tried = append(tried, Candidate{Address: addr, Note: firstLine(err)})
			return false
		}
		tried = append(tried, Candidate{Address: addr, Note: "answers", OK: true})
		return true
	}
	for _, addr := range []string{DefaultAddress, "docker", LocalAddress()} {
		if probe(addr) {
			return addr, tried, nil
		}
	}
	if err := StartLocal(ctx); err != nil {
		tried = append(tried, Candidate{Address: LocalAddress(), Note: firstLine(err)})
		return "", tried, fmt.Errorf("%w: no BuildKit found (%s)", ErrUnreachable, summary(tried))
	}
	if probe(LocalAddress()) {
		return LocalAddress(), tried, nil
	}
	return "", tried, fmt.Errorf("%w: started buildkitd but it does not answer (%s); see %s", ErrUnreachable, summary(tried), filepath.Join(StateDir(), "buildkitd.log"))
}

func summary(tried []Candidate) string {
	var parts []string
	for _, c := range tried {
		parts = append(parts, c.Address+": "+c.Note)
	}
	return strings.Join(parts, "; ")
}

// StartLocal starts buildkitd from PATH with its state in StateDir and
// waits until its socket exists. It needs root.
func StartLocal(ctx context.Context) error {
	bin, err := exec.LookPath("buildkitd")
	if err != nil {
		return errors.New("no buildkitd on PATH to start")
	}
	if os.Geteuid() != 0 {
		return errors.New("starting buildkitd needs root")
	}
	dir := StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	sock := filepath.Join(dir, "buildkitd.sock")
	os.Remove(sock)
	logf, err := os.OpenFile(filepath.Join(dir, "buildkitd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--root", filepath.Join(dir, "buildkitd"), "--addr", "unix://"+sock)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(dir, "buildkitd.pid"), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		return err
	}
	cmd.Process.Release()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(sock); err == nil {
			return nil
		}
		if syscall.Kill(pid, 0) != nil {
			return fmt.Errorf("buildkitd exited at start; see %s", logf.Name())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("buildkitd did not create %s in 15s; see %s", sock, logf.Name())
}

// StopLocal ends the buildkitd that StartLocal started. It reports false
// when none runs.
func StopLocal() (bool, error) {
	pidFile := filepath.Join(StateDir(), "buildkitd.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return false, fmt.Errorf("%s: %w", pidFile, err)
	}
	defer os.Remove(pidFile)
	if syscall.Kill(pid, 0) != nil {
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return false, fmt.Errorf("stopping buildkitd (pid %d): %w", pid, err)
	}
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return true, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true, fmt.Errorf("buildkitd (pid %d) did not stop within 10s", pid)
}
