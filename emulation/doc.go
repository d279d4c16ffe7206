// Package emulation owns the kernel's binfmt_misc handlers that let a
// machine run programs of another architecture through QEMU: a table of
// architectures with the ELF magic and mask that select them, the status of
// each handler, probe programs that really execute each architecture, and
// the Installer interface with two implementations: Host registers static
// qemu-<arch>-static interpreters with the fix-binary (F) flag that
// containers need in this machine's kernel, Docker does the same in a
// Docker daemon's kernel through an installer container (Engine API, via
// internal/dockerapi). Outcomes are typed (Action).
//
// It knows nothing of BuildKit, registries or mab's command line: its
// errors are typed or wrap the sentinels of errors.go, and a command adds
// its own advice (a test keeps flags and commands out of its strings).
// Whether an architecture is native is internal/platform's answer.
package emulation
