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
	"time"

	"github.com/mab-build/mab/internal/dockerapi"
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
	// Why it was, or was not, taken: the first line of the error.
	Note string
	OK   bool
	// Err is why it was not taken; nil when OK.
	Err error
}

// LocalDaemon is the buildkitd that StartLocal started.
type LocalDaemon struct {
	PID int
	// StateDir holds its socket, pid file, log and build state.
	StateDir string
	// Log is the file its output goes to.
	Log string
}

// DiscoverTrace holds hooks that Discover calls, as net/http/httptrace's
// ClientTrace does for a request; a nil hook is not called.
type DiscoverTrace struct {
	// StartedLocal is called once Discover has started mab's own
	// buildkitd, which keeps running after the build (StopLocal ends it).
	StartedLocal func(LocalDaemon)
}

type traceKey struct{}

// WithDiscoverTrace returns a context whose Discover calls the hooks of
// trace.
func WithDiscoverTrace(ctx context.Context, trace *DiscoverTrace) context.Context {
	return context.WithValue(ctx, traceKey{}, trace)
}

// ContextDiscoverTrace returns the trace of ctx, or nil. A stand-in for
// Discover (in a test) calls its hooks as Discover would.
func ContextDiscoverTrace(ctx context.Context) *DiscoverTrace {
	t, _ := ctx.Value(traceKey{}).(*DiscoverTrace)
	return t
}

type noStartKey struct{}

// errNotStarted is why WithoutStarting's Discover did not take mab's own
// buildkitd.
var errNotStarted = errors.New("not started (no daemon is started for this command)")

// WithoutStarting returns a context whose Discover never starts mab's own
// buildkitd: when no builder answers, it fails, naming what it tried (a
// dry run changes nothing, not even which daemons run).
func WithoutStarting(ctx context.Context) context.Context {
	return context.WithValue(ctx, noStartKey{}, true)
}

// Discover finds a builder when none was given: a buildkitd at the
// default socket, then the Docker daemon, then mab's own buildkitd, started
// from PATH when it does not run yet (its state stays in StateDir for the
// next build; StopLocal ends it, and the StartedLocal hook of the
// context's DiscoverTrace hears of it). It returns the address taken and
// every candidate tried; when none answers, the error names each in a few
// words.
func Discover(ctx context.Context) (string, []Candidate, error) {
	var tried []Candidate
	probe := func(addr string) bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := Probe(ctx, addr, TLS{}); err != nil {
			tried = append(tried, Candidate{Address: addr, Note: firstLine(err), Err: err})
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
	if ctx.Value(noStartKey{}) != nil {
		tried = append(tried, Candidate{Address: "buildkitd from PATH", Note: errNotStarted.Error(), Err: errNotStarted})
		return "", tried, fmt.Errorf("%w: no BuildKit found (tried %s)", ErrUnreachable, summary(tried))
	}
	d, err := StartLocal(ctx)
	if err != nil {
		tried = append(tried, Candidate{Address: "buildkitd from PATH", Note: firstLine(err), Err: err})
		return "", tried, fmt.Errorf("%w: no BuildKit found (tried %s)", ErrUnreachable, summary(tried))
	}
	if t := ContextDiscoverTrace(ctx); t != nil && t.StartedLocal != nil {
		t.StartedLocal(d)
	}
	if probe(LocalAddress()) {
		return LocalAddress(), tried, nil
	}
	return "", tried, fmt.Errorf("%w: started buildkitd (pid %d) but it does not answer; see %s", ErrUnreachable, d.PID, d.Log)
}

// summary names each candidate tried with a few words of why it was not
// taken: the whole errors are in the candidates.
func summary(tried []Candidate) string {
	var parts []string
	for _, c := range tried {
		parts = append(parts, c.Address+": "+brief(c.Err))
	}
	return strings.Join(parts, ", ")
}

// errNoSocket is wrapped by Dial's error for a unix:// socket that does
// not exist.
var errNoSocket = errors.New("no BuildKit socket")

// brief is a few words of why an endpoint was not taken.
func brief(err error) string {
	switch {
	case err == nil:
		return "answers"
	case errors.Is(err, errNoSocket):
		return "no socket"
	case errors.Is(err, dockerapi.ErrUnreachable), errors.Is(err, dockerapi.ErrUnsupportedHost):
		return "no Docker daemon"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in 5s"
	case errors.Is(err, ErrUnreachable):
		return "does not answer"
	}
	return firstLine(err)
}

// StartLocal starts buildkitd from PATH with its state in StateDir and
// waits until its socket exists. It needs root.
func StartLocal(ctx context.Context) (LocalDaemon, error) {
	bin, err := exec.LookPath("buildkitd")
	if err != nil {
		return LocalDaemon{}, errors.New("no buildkitd on PATH")
	}
	if os.Geteuid() != 0 {
		return LocalDaemon{}, errors.New("starting buildkitd needs root")
	}
	dir := StateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return LocalDaemon{}, fmt.Errorf("creating %s: %w", dir, err)
	}
	sock := filepath.Join(dir, "buildkitd.sock")
	os.Remove(sock)
	logf, err := os.OpenFile(filepath.Join(dir, "buildkitd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return LocalDaemon{}, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--root", filepath.Join(dir, "buildkitd"), "--addr", "unix://"+sock)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = newSession()
	if err := cmd.Start(); err != nil {
		return LocalDaemon{}, fmt.Errorf("starting %s: %w", bin, err)
	}
	d := LocalDaemon{PID: cmd.Process.Pid, StateDir: dir, Log: logf.Name()}
	if err := os.WriteFile(filepath.Join(dir, "buildkitd.pid"), []byte(strconv.Itoa(d.PID)+"\n"), 0o600); err != nil {
		return d, err
	}
	cmd.Process.Release()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(sock); err == nil {
			return d, nil
		}
		if !alive(d.PID) {
			return d, fmt.Errorf("buildkitd exited at start; see %s", d.Log)
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return d, fmt.Errorf("buildkitd did not create %s in 15s; see %s", sock, d.Log)
}

// StopResult is what StopLocal did.
type StopResult struct {
	// PIDFile is the pid file read; PID the process it named (0 when
	// there was no file).
	PIDFile string
	PID     int
	// Stopped is true when PID was mab's buildkitd and has ended.
	Stopped bool
	// Stale, when not empty, says why the pid file named no running
	// buildkitd of mab's (the process is gone, or is another program);
	// the file was removed and no process signalled.
	Stale string
}

// StopLocal ends the buildkitd that StartLocal started. It signals the
// process of the pid file only when /proc shows it is buildkitd running
// with StateDir's state, as StartLocal starts it; a pid file that names
// anything else is stale and removed.
func StopLocal() (StopResult, error) {
	res := StopResult{PIDFile: filepath.Join(StateDir(), "buildkitd.pid")}
	b, err := os.ReadFile(res.PIDFile)
	if errors.Is(err, os.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.PID, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || res.PID <= 0 {
		res.Stale = fmt.Sprintf("it holds %q, not a process id", strings.TrimSpace(string(b)))
		return res, removeStale(res.PIDFile)
	}
	if why := notOurs(res.PID, filepath.Join(StateDir(), "buildkitd")); why != "" {
		res.Stale = why
		return res, removeStale(res.PIDFile)
	}
	if err := terminate(res.PID); err != nil {
		return res, fmt.Errorf("stopping buildkitd (pid %d): %w", res.PID, err)
	}
	for range 100 {
		if !alive(res.PID) {
			res.Stopped = true
			return res, removeStale(res.PIDFile)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return res, fmt.Errorf("buildkitd (pid %d) did not stop within 10s", res.PID)
}

func removeStale(pidFile string) error {
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// notOurs returns why process pid is not a buildkitd with root as its
// state (--root), or "" when it is: its command line in /proc names
// buildkitd and that folder.
func notOurs(pid int, root string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	switch {
	case err != nil:
		return fmt.Sprintf("no process %d runs", pid)
	case len(b) == 0:
		return fmt.Sprintf("process %d shows no command line (it is exiting, or a kernel thread)", pid)
	}
	args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	if filepath.Base(args[0]) == "buildkitd" {
		for i, a := range args {
			if a == "--root="+root || a == "--root" && i+1 < len(args) && args[i+1] == root {
				return ""
			}
		}
	}
	cmdline := strings.Join(args, " ")
	if len(cmdline) > 80 {
		cmdline = cmdline[:80] + "…"
	}
	return fmt.Sprintf("process %d is %q, not buildkitd with state in %s", pid, cmdline, filepath.Dir(root))
}
