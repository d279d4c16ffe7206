// Package e2e holds mab's end-to-end tests: the real mab binary against the
// real buildkitd, registry and QEMU handlers that `make e2e-up` starts.
package e2e
