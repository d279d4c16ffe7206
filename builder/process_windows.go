package builder

import (
	"errors"
	"os"
	"syscall"
)

// newSession: a Windows process outlives its parent without one.
func newSession() *syscall.SysProcAttr { return nil }

// alive reports whether process pid exists.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}

// terminate is not offered on Windows: mab's own buildkitd is a Linux
// program.
func terminate(int) error { return errors.ErrUnsupported }
