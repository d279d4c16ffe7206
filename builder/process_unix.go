//go:build !windows

package builder

import "syscall"

// newSession starts a process in a session of its own, so it outlives mab.
func newSession() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// alive reports whether process pid exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// terminate sends process pid SIGTERM.
func terminate(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }
