package merge

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// session holds one authenticated transport per registry for the length of
// one call, so that each registry is pinged and asked for a token once,
// with every scope the call needs (push to the target, pull from sources).
type session struct {
	o          options
	transports map[string]http.RoundTripper
}

// connect authenticates to the registries of push (push and pull scope)
// and pull (pull scope).
func connect(ctx context.Context, o options, push []name.Repository, pull []name.Repository) (*session, error) {
	regs := map[string]name.Registry{}
	scopes := map[string][]string{}
	repos := map[string][]string{}
	add := func(r name.Repository, scope string) {
		key := r.RegistryStr()
		regs[key] = r.Registry
		if !slices.Contains(repos[key], r.RepositoryStr()) {
			repos[key] = append(repos[key], r.RepositoryStr())
		}
		if s := r.Scope(scope); !slices.Contains(scopes[key], s) {
			scopes[key] = append(scopes[key], s)
		}
	}
	for _, r := range push {
		add(r, transport.PushScope)
	}
	for _, r := range pull {
		add(r, transport.PullScope)
	}
	base := o.transport
	if base == nil {
		base = remote.DefaultTransport
	}
	rt := &retrying{inner: base, insecure: o.insecure, attempts: o.attempts, backoff: o.backoff, maxWait: o.maxWait}
	s := &session{o: o, transports: map[string]http.RoundTripper{}}
	for key, reg := range regs {
		auth, err := o.keychain.Resolve(reg)
		if err != nil {
			return nil, fmt.Errorf("finding credentials for %s: %w", key, err)
		}
		t, err := transport.NewWithContext(ctx, reg, auth, rt, scopes[key])
		if err != nil {
			return nil, fmt.Errorf("connecting to registry %s (for %s): %w", key, strings.Join(repos[key], ", "), explain(reg, err))
		}
		s.transports[key] = t
	}
	return s, nil
}

// remote returns the options of a go-containerregistry call on ref: the
// registry's authenticated transport, used as it is (no second retry
// layer, no second ping). go-containerregistry still restarts a whole blob
// upload, whose streamed body mab's transport cannot replay; once is
// enough on top of mab's own retries of each request.
func (s *session) remote(ctx context.Context, ref name.Reference) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(s.transports[ref.Context().RegistryStr()]),
		remote.WithJobs(s.o.jobs),
		remote.WithRetryBackoff(remote.Backoff{Duration: s.o.backoff, Factor: 2, Steps: 2}),
	}
}
