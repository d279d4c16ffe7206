// Package merge owns everything mab does with a registry: it assembles
// images and indexes, by tag or digest and from any repository, into one
// index (an OCI image index or a Docker manifest list), copies the children
// that live elsewhere into the target repository, pushes the index last,
// reads it back, and inspects and verifies what a tag holds.
//
// A child's platform always comes from its image config, never from a tag
// name; a user's override may only add to it unless forced. A child that is
// itself an index is flattened, its attestation manifests kept after the
// images. An amend starts over when another writer changes the target
// meanwhile.
//
// Registry traffic goes through one authenticated transport per registry
// and call (credentials from the Docker config and its helpers through
// go-containerregistry's default keychain), over mab's own retrying
// transport: 408, 429, 5xx and dropped connections are retried with
// backoff, honouring Retry-After; plain HTTP only to loopback unless
// WithInsecure. Errors wrap the sentinels of errors.go.
//
// It knows nothing of BuildKit (it is handed references) nor of the
// command line (it prints nothing).
package merge
