// Package merge owns everything mab does with a registry: it assembles the
// images built for each platform into one index (an OCI image index or a
// Docker manifest list), pushes it, reads it back, and inspects what a tag
// holds.
//
// A child's platform always comes from its image config, never from a tag
// name. A child that is itself an index is flattened, its attestation
// manifests kept after the images. Credentials come from the Docker config
// and its helpers through go-containerregistry's default keychain.
//
// It knows nothing of BuildKit: it is handed digests.
package merge
