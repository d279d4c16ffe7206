package merge

import (
	"context"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Option configures a call of this package.
type Option func(*options)

type options struct {
	keychain  authn.Keychain
	transport http.RoundTripper
	jobs      int
}

// WithKeychain sets where credentials come from. The default is the Docker
// config and its credential helpers (authn.DefaultKeychain).
func WithKeychain(k authn.Keychain) Option { return func(o *options) { o.keychain = k } }

// WithTransport sets the HTTP transport. The default is remote's default
// transport, which retries transient failures.
func WithTransport(t http.RoundTripper) Option { return func(o *options) { o.transport = t } }

// WithJobs sets how many children are fetched at once. The default is 8;
// values below 1 are taken as 1.
func WithJobs(n int) Option { return func(o *options) { o.jobs = max(n, 1) } }

func makeOptions(opts []Option) options {
	o := options{keychain: authn.DefaultKeychain, jobs: 8}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func (o options) remote(ctx context.Context) []remote.Option {
	ro := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(o.keychain)}
	if o.transport != nil {
		ro = append(ro, remote.WithTransport(o.transport))
	}
	return ro
}
