package merge

import (
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Option configures a call of this package.
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
	keychain    authn.Keychain
	transport   http.RoundTripper
	jobs        int
	insecure    bool
	attempts    int
	backoff     time.Duration
	maxWait     time.Duration
	amend       bool
	settle      time.Duration
	force       bool
	mediaType   MediaType
	annotations map[string]string
	platforms   []v1.Platform
}

// WithKeychain sets where credentials come from. The default is the Docker
// config and its credential helpers (authn.DefaultKeychain).
func WithKeychain(k authn.Keychain) Option { return func(o *options) { o.keychain = k } }

// WithTransport sets the HTTP transport under mab's own retries and
// authentication. The default is go-containerregistry's remote.DefaultTransport.
func WithTransport(t http.RoundTripper) Option { return func(o *options) { o.transport = t } }

// WithJobs sets how many children are fetched or copied at once. The
// default is 8; values below 1 are taken as 1.
func WithJobs(n int) Option { return func(o *options) { o.jobs = max(n, 1) } }

// WithInsecure allows plain HTTP to any registry. Without it plain HTTP is
// used only for loopback registries (localhost, 127.0.0.0/8, ::1), even for
// the private addresses go-containerregistry would otherwise speak HTTP to.
func WithInsecure(insecure bool) Option { return func(o *options) { o.insecure = insecure } }

// WithRetry sets how often a request that failed with 408, 429, a 5xx or a
// dropped connection is tried (attempts, at least 1) and the first wait,
// doubled for each retry. A Retry-After header replaces the wait, up to one
// minute; a longer one is not waited for. The default is 5 attempts from 500ms.
func WithRetry(attempts int, first time.Duration) Option {
	return func(o *options) { o.attempts, o.backoff = max(attempts, 1), first }
}

// WithAmend starts from the index already at the target: its platforms are
// kept, and those the sources provide are replaced. A missing target is
// taken as an empty index. The default is false: the sources alone.
func WithAmend(amend bool) Option { return func(o *options) { o.amend = amend } }

// WithSettle sets how long an amend waits after its read-back before it
// checks once more that no concurrent amend replaced its index with one
// that lacks its platforms. The default is 500ms; 0 skips the check.
func WithSettle(d time.Duration) Option { return func(o *options) { o.settle = d } }

// WithForce lets a source's platform override win over its image config.
// The default is false: an override that contradicts the config is an error.
func WithForce(force bool) Option { return func(o *options) { o.force = force } }

// WithMediaType chooses the index's media type. MediaTypeAuto, the default,
// writes a Docker manifest list when every child is a Docker v2 manifest
// and there are no index annotations, an OCI index otherwise.
// MediaTypeDocker is refused for OCI children and with annotations.
func WithMediaType(mt MediaType) Option { return func(o *options) { o.mediaType = mt } }

// WithAnnotations sets index-level annotations (OCI indexes only). With
// WithAmend they are added to the target's, replacing equal keys.
func WithAnnotations(a map[string]string) Option { return func(o *options) { o.annotations = a } }

// WithPlatforms keeps only the sources' children that match one of ps
// (attestations follow their image). Each of ps must match a child. The
// default keeps every child.
func WithPlatforms(ps ...v1.Platform) Option { return func(o *options) { o.platforms = ps } }

func makeOptions(opts []Option) options {
	o := options{
		keychain:  authn.DefaultKeychain,
		jobs:      8,
		attempts:  5,
		backoff:   500 * time.Millisecond,
		maxWait:   time.Minute,
		settle:    500 * time.Millisecond,
		mediaType: MediaTypeAuto,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
