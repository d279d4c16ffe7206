package merge

import (
	"context"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Client assembles, pushes, verifies and inspects indexes. It keeps one
// authenticated transport per registry for its whole life, so a Merge
// followed by a Verify of the same tag pings the registry and asks it for a
// token once: a transport made for push and pull on a repository serves
// later pulls from it, and a call that needs a scope the Client does not
// hold yet gets a new transport with every scope held so far and the new
// ones. Bearer tokens that expire are renewed by go-containerregistry's
// transport on the registry's 401.
//
// Client options (see Option) are fixed by New; call options given to New
// are the default of each call. A Client is safe for concurrent use; it
// holds no context (each method takes one).
type Client struct {
	o  options
	rt http.RoundTripper // mab's retrying transport, under each registry's authentication

	mu   sync.Mutex
	regs map[string]*registryAuth
}

// New returns a Client. It dials nothing: registries are pinged and
// authenticated by the first call that needs them.
func New(opts ...Option) *Client {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	o.clientSet = nil
	base := o.transport
	if base == nil {
		base = remote.DefaultTransport
	}
	return &Client{
		o: o,
		rt: &retrying{
			inner: base, plain: plainHTTP{all: o.insecure, hosts: o.plainOK},
			attempts: o.attempts, backoff: o.backoff, maxWait: o.maxWait,
			idle: o.idle, deadline: o.deadline,
		},
		regs: map[string]*registryAuth{},
	}
}

// Assemble is New(opts...).Assemble(ctx, target, sources): see Client.Assemble.
func Assemble(ctx context.Context, target name.Tag, sources []Source, opts ...Option) (*Index, error) {
	return New(opts...).Assemble(ctx, target, sources)
}

// Merge is New(opts...).Merge(ctx, target, sources): see Client.Merge.
func Merge(ctx context.Context, target name.Tag, sources []Source, opts ...Option) (*Published, error) {
	return New(opts...).Merge(ctx, target, sources)
}

// Verify is New(opts...).Verify(ctx, ref, want): see Client.Verify.
func Verify(ctx context.Context, ref name.Reference, want v1.Hash, opts ...Option) error {
	return New(opts...).Verify(ctx, ref, want)
}

// Inspect is New(opts...).Inspect(ctx, ref): see Client.Inspect.
func Inspect(ctx context.Context, ref name.Reference, opts ...Option) (*Listing, error) {
	return New(opts...).Inspect(ctx, ref)
}
