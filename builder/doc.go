// Package builder drives BuildKit for mab: it resolves which endpoint to
// use (a flag, $BUILDKIT_HOST, discovery, per-platform nodes from --node
// values and $MAB_NODES; endpoint.go), dials it, asks its workers which
// platforms they run, and builds one Dockerfile once per platform through
// the built-in dockerfile.v0 frontend, every solve in one shared session so
// the context is sent once. Each solve pushes its image under its own arch
// tag and reports the digest from the exporter response, and the solve's
// exec steps (Step: each RUN's platform, Dockerfile line and time), read
// from the LLB the frontend returned through BuildKit's gateway and timed
// from the status stream. Progress goes to
// a Progress (Display is the terminal one). KernelOf says whose kernel runs
// an endpoint's solves, which is where QEMU handlers belong.
//
// It knows nothing of registries beyond the names it hands to BuildKit, and
// nothing of binfmt_misc: the merge and emulation packages own those. Its
// errors are typed (ErrUnreachable, ErrTLS, *AuthError, ErrInvalidNode,
// ErrInvalidOption) and name no flag of mab: the command line adds that.
package builder
