// Package merge owns everything mab does with a registry: it assembles
// images and indexes, by tag or digest and from any repository, into one
// index (an OCI image index or a Docker manifest list), copies the children
// that live elsewhere into the target repository, pushes the index last,
// reads it back, and inspects and verifies what a tag holds.
//
// A Client, made once with New, does all of it: Assemble, Merge, Verify and
// Inspect. It keeps one authenticated transport per registry for its whole
// life, asked once for a token with every scope its calls have needed
// (push and pull on a target, pull on sources), so a Merge followed by a
// Verify pings and authenticates each registry once. Options are of two
// kinds (see Option): client options (credentials, transport, plain HTTP,
// retries, timeouts, concurrency, settling time) are given to New; call options
// (amend, force, media type, annotations, platforms) to New as defaults or
// to a call. The package-level Assemble, Merge, Verify and Inspect make a
// Client for one call.
//
// Copy copies an image or index to another repository or registry byte
// for byte (children, blobs and, with WithReferrers, the OCI referrers of
// each, found through the referrers API or the referrers tag), and writes
// the target's tag last.
//
// A child's platform always comes from its image config, never from a tag
// name; a user's override may only add to it unless forced. A child that is
// itself an index is flattened, its attestation manifests kept after the
// images. An amend starts over when another writer changes the target
// meanwhile. Platforms are parsed, compared and matched by mab's
// internal/platform, as every mab command does.
//
// Credentials come from the Docker config and its helpers through
// go-containerregistry's default keychain. Requests go over mab's own
// transport: 408, 429, 5xx, dropped connections and timeouts are retried
// with backoff, honouring Retry-After (see WithRetry); every attempt has an
// idle (response-header) timeout and, but for blob transfers, a deadline
// (see WithTimeout); every response body is read under a limit
// (MaxManifestSize, MaxConfigSize); plain HTTP only to loopback and the
// hosts of WithInsecureRegistries, unless WithInsecure. A child's size and
// media type are those of the manifest fetched, and a source index that
// says otherwise is refused.
//
// Errors wrap the sentinels of errors.go, and are typed where a caller
// needs their data: *AuthError (which registry refused), *OverrideError
// (which platforms disagree), *DescriptorError (which child lies),
// *TimeoutError, *RetryAfterError, *TooLargeError and *PlainHTTPError
// (which registry or host). Registry-supplied text in them has been
// through Printable. They state what went wrong, never what a user
// should type: the package knows nothing of BuildKit (it is handed
// references) nor of any command line (it prints nothing and names no
// flag); the program that imports it adds that advice.
package merge
