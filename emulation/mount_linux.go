package emulation

import "golang.org/x/sys/unix"

// mountBinfmt mounts the binfmt_misc file system at root.
func mountBinfmt(root string) error { return unix.Mount("binfmt_misc", root, "binfmt_misc", 0, "") }

// unmount unmounts the file system at root.
func unmount(root string) error { return unix.Unmount(root, 0) }
