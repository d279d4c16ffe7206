//go:build !windows

package emulation

import "syscall"

// chrootAttr runs a process with dir as its root.
func chrootAttr(dir string) *syscall.SysProcAttr { return &syscall.SysProcAttr{Chroot: dir} }
