//go:build !linux

package emulation

import (
	"errors"
	"fmt"
)

// errNotLinux: binfmt_misc is a Linux kernel's; elsewhere (macOS,
// Windows) the emulators are the remote builder's business.
var errNotLinux = fmt.Errorf("binfmt_misc exists on Linux only: %w", errors.ErrUnsupported)

func mountBinfmt(string) error { return errNotLinux }

func unmount(string) error { return errNotLinux }
