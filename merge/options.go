package merge

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Option configures a Client or one call of it. There are two kinds, and
// each option's doc comment says which it is:
//
//   - Client options (WithKeychain, WithTransport, WithInsecure,
//     WithInsecureRegistries, WithRetry, WithTimeout, WithJobs, WithSettle) shape how the Client talks to registries. They
//     are given to New; a method of Client refuses them with ErrInvalid,
//     since its connections are already made with the Client's.
//   - Call options (WithAmend, WithForce, WithMediaType, WithAnnotations,
//     WithDescriptorAnnotations, WithPlatforms) shape what one call does. Given to New they are the
//     default of every call; given to a method they apply to that call.
//
// The package-level functions (Merge, Assemble, Verify, Inspect) take both
// kinds, since each makes a Client of its own.
type Option func(*options)

// MediaType chooses the kind of index Merge writes.
type MediaType string

// The media type choices; see WithMediaType.
const (
	MediaTypeAuto   MediaType = "auto"
	MediaTypeOCI    MediaType = "oci"
	MediaTypeDocker MediaType = "docker"
)

type options struct {
	// Client options.
	keychain  authn.Keychain
	transport http.RoundTripper
	jobs      int
	insecure  bool
	plainOK   []string // hosts allowed plain HTTP (see PlainHTTPAllowed)
	attempts  int
	backoff   time.Duration
	maxWait   time.Duration
	idle      time.Duration
	deadline  time.Duration
	settle    time.Duration
	// Call options.
	amend       bool
	force       bool
	mediaType   MediaType
	annotations map[string]string
	descAnnots  []DescriptorAnnotations
	platforms   []v1.Platform
	referrers   bool
	// clientSet names the client options applied, for a method to refuse.
	clientSet []string
}

// client marks an option as a client option named n.
func client(n string, set func(*options)) Option {
	return func(o *options) {
		set(o)
		o.clientSet = append(o.clientSet, n)
	}
}

// WithKeychain (client option) sets where credentials come from. The
// default is the Docker config and its credential helpers
// (authn.DefaultKeychain).
func WithKeychain(k authn.Keychain) Option {
	return client("WithKeychain", func(o *options) { o.keychain = k })
}

// WithTransport (client option) sets the HTTP transport under mab's own
// retries and authentication. The default is go-containerregistry's
// remote.DefaultTransport.
func WithTransport(t http.RoundTripper) Option {
	return client("WithTransport", func(o *options) { o.transport = t })
}

// WithJobs (client option) sets how many children are fetched or copied at
// once in a call. The default is 8; values below 1 are taken as 1.
func WithJobs(n int) Option {
	return client("WithJobs", func(o *options) { o.jobs = max(n, 1) })
}

// WithInsecure (client option) allows plain HTTP to every registry and
// token server the Client talks to, and so sends them credentials in the
// clear. Without it (the default) plain HTTP is used only for loopback
// registries (localhost, 127.0.0.0/8, ::1) and those of
// WithInsecureRegistries, even for the private addresses
// go-containerregistry would otherwise speak HTTP to; other requests fail
// with ErrPlainHTTP, naming the host.
func WithInsecure(insecure bool) Option {
	return client("WithInsecure", func(o *options) { o.insecure = insecure })
}

// WithInsecureRegistries (client option) allows plain HTTP to these hosts
// only, each HOST (any port) or HOST:PORT (that port), e.g.
// registry.local or 10.0.0.5:5000. Requests to other hosts, token servers
// included, still need HTTPS (or loopback). Repeated, the lists add up.
// The default is none. See PlainHTTPAllowed for the matching rule. A reference to such a registry must also be parsed
// with name.Insecure for go-containerregistry to try plain HTTP at all.
func WithInsecureRegistries(hosts ...string) Option {
	return client("WithInsecureRegistries", func(o *options) {
		o.plainOK = append(o.plainOK, hosts...)
	})
}

// WithRetry (client option) sets how often a request that failed with 408,
// 429, a 5xx, a dropped connection or a timeout (see WithTimeout) is sent
// (attempts, at least 1), and the first wait, doubled for each retry. A
// Retry-After header replaces the wait, up to one minute; a longer one is
// not waited for, and the request fails with a *RetryAfterError. The
// default is 5 attempts from 500ms: 5 requests in all, over 7.5s of
// waiting. A blob upload whose streamed body cannot be sent again is not
// retried request by request; go-containerregistry restarts the whole
// upload once instead.
func WithRetry(attempts int, first time.Duration) Option {
	return client("WithRetry", func(o *options) { o.attempts, o.backoff = max(attempts, 1), first })
}

// WithTimeout (client option) sets the timeouts of each attempt of each
// registry request. idle is the longest an attempt may go without a byte
// moving: from the request sent to the response headers (the
// response-header timeout) and between reads of the body. request is the
// deadline of a whole attempt, body included, for every request but blob
// transfers (layers and configs, and the redirects to the storage that
// serves them), which have the idle timeout only, so a large layer that
// keeps moving is never cut. An attempt that times out is retried like a
// dropped connection (see WithRetry); when none is left the error is a
// *TimeoutError naming the registry. The defaults are 30s idle and 2
// minutes per request: with the default retries, a registry that accepts
// connections and never answers fails a call within about 2.6 minutes
// (5 × 30s + 7.5s). 0 turns a timeout off.
func WithTimeout(idle, request time.Duration) Option {
	return client("WithTimeout", func(o *options) { o.idle, o.deadline = max(idle, 0), max(request, 0) })
}

// WithSettle (client option) sets how long an amend waits after its
// read-back before it checks once more that no concurrent amend replaced
// its index with one that lacks its platforms or lists other images for
// them. The default is 500ms; 0
// skips the check.
func WithSettle(d time.Duration) Option {
	return client("WithSettle", func(o *options) { o.settle = d })
}

// WithAmend (call option) starts from the index already at the target: its
// platforms are kept, and those the sources provide are replaced. A missing
// target is taken as an empty index. The default is false: the sources alone.
func WithAmend(amend bool) Option { return func(o *options) { o.amend = amend } }

// WithForce (call option) lets a source's platform override win over its
// image config. The default is false: an override that contradicts the
// config is an *OverrideError.
func WithForce(force bool) Option { return func(o *options) { o.force = force } }

// WithMediaType (call option) chooses the index's media type.
// MediaTypeAuto, the default, writes a Docker manifest list when every
// child is a Docker v2 manifest and there are no index or descriptor
// annotations, an OCI index otherwise. MediaTypeDocker is refused
// (ErrDockerList) for OCI children and with either kind of annotations.
func WithMediaType(mt MediaType) Option { return func(o *options) { o.mediaType = mt } }

// WithAnnotations (call option) sets index-level annotations (OCI indexes
// only). With WithAmend they are added to the target's, replacing equal keys.
func WithAnnotations(a map[string]string) Option { return func(o *options) { o.annotations = a } }

// DescriptorAnnotations are annotations for the descriptors of an index's
// images: those of Platform, or every image's when Platform is nil.
type DescriptorAnnotations struct {
	Platform    *v1.Platform
	Annotations map[string]string
}

// WithDescriptorAnnotations (call option) puts annotations on the
// descriptors of the index's images (with WithAmend, the target's kept
// images too), never on attestation manifests'. They are merged over what
// a descriptor already carries, replacing equal keys: first the sets
// without a Platform, then those whose Platform matches the image's (as
// WithPlatforms matches), each in the order given. A set whose Platform
// matches no image of the index is refused (ErrInvalid), and so is the key
// vnd.docker.reference.type, which marks attestations. A Docker manifest
// list's descriptors have no annotations: they make the index OCI, and
// WithMediaType(MediaTypeDocker) is refused (ErrDockerList). The default
// is none.
func WithDescriptorAnnotations(as ...DescriptorAnnotations) Option {
	return func(o *options) { o.descAnnots = as }
}

// WithPlatforms (call option) keeps only the sources' children that match
// one of ps (attestations follow their image). Each of ps must match a
// child. The default keeps every child.
func WithPlatforms(ps ...v1.Platform) Option { return func(o *options) { o.platforms = ps } }

// WithReferrers (call option) makes Copy, and the copies of children
// into another repository that Merge and CopyTo make, copy the OCI
// referrers of what they copy too (signatures, SBOMs, attestations
// attached by cosign or oras; and the referrers of those), found through
// the registry's referrers API or its referrers tag. The default is
// false: manifests and their blobs only.
func WithReferrers(on bool) Option { return func(o *options) { o.referrers = on } }

// defaults are the options of a Client made with none.
func defaults() options {
	return options{
		keychain:  authn.DefaultKeychain,
		jobs:      8,
		attempts:  5,
		backoff:   500 * time.Millisecond,
		maxWait:   time.Minute,
		idle:      30 * time.Second,
		deadline:  2 * time.Minute,
		settle:    500 * time.Millisecond,
		mediaType: MediaTypeAuto,
	}
}

// forCall applies a call's options to a copy of base, refusing client options.
func forCall(base options, opts []Option) (options, error) {
	o := base
	o.clientSet = nil
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.clientSet) > 0 {
		return options{}, fmt.Errorf("%w option: %s configures a Client; pass it to New", ErrInvalid, strings.Join(o.clientSet, ", "))
	}
	return o, nil
}
