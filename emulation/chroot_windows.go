package emulation

import "syscall"

// chrootAttr is nil on Windows, which has no chroot; the probe asks for
// it only as root (os.Geteuid() == 0), which Windows never reports.
func chrootAttr(string) *syscall.SysProcAttr { return nil }
