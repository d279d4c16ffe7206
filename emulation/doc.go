// Package emulation owns the kernel's binfmt_misc handlers that let a
// machine run programs of another architecture through QEMU: a table of
// architectures with the ELF magic and mask that select them, the status of
// each handler, probe programs that really execute each architecture, an
// installer that registers static qemu-<arch>-static interpreters with the
// fix-binary (F) flag that containers need, and one that does the same in
// a Docker daemon's kernel through an installer container (Engine API).
//
// It knows nothing of BuildKit or registries.
package emulation
