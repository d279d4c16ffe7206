// Package platform is mab's one answer to "which platform is this?":
// parsing and normalising what a user typed (aarch64 → arm64, linux/arm →
// linux/arm/v7, arm64/v8 → arm64), formatting, the key two platforms are
// compared by, and whether a machine of one platform runs another natively.
//
// Every package of mab that meets a platform uses it, so that `mab build
// --platform` and `mab merge --platform` accept the same strings, and the
// summary, the metadata file, preflight and the emulator installers agree
// on what "native" means. It is built on containerd/platforms and knows
// nothing of BuildKit, registries or the kernel.
package platform
