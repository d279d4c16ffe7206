package merge

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Why mab authenticates each registry once with every scope, rather than
// letting go-containerregistry do it: each of its remote functions
// (remote.Get, remote.Head, remote.Write, remote.Put) pings the registry
// and asks for a token of its own, and its Puller and Pusher keep one
// transport per repository and kind of access (a pull-scoped reader per
// source repository, a push-scoped writer per target, whose token does not
// cover a mount from a source repository). A merge that copies N children
// from other repositories would authenticate at least once per child, and
// again for the write, the read-back and the verification; rate-limited
// registries count each token. mab asks each registry once for a token that holds every scope
// the calls of a Client have needed (push and pull on the target, pull on
// the sources), and hands go-containerregistry that transport as the
// *transport.Wrapper it returns, which go-containerregistry uses as it is.

// registryAuth is the Client's authenticated transport to one registry
// and the scopes its token was asked for.
type registryAuth struct {
	mu     sync.Mutex // held while connecting, so concurrent calls ping once
	scopes []string
	rt     http.RoundTripper
}

// Authorize pings each registry of push and pull and asks it for one token
// with every scope a sequence of calls will need: push and pull on the
// repositories of push, pull on those of pull. The calls that follow on
// this Client then reuse that transport, so a command that writes several
// tags in several repositories of one registry (copies, the index, the
// other tags, the read-backs) authenticates it once. Without it, a call
// that needs a scope not held yet pings and authenticates anew.
func (c *Client) Authorize(ctx context.Context, push, pull []name.Repository) error {
	_, err := c.session(ctx, c.o, push, pull)
	return err
}

// session is what one call uses: its options and a transport per registry.
type session struct {
	o          options
	transports map[string]http.RoundTripper
}

// session returns the transports a call needs: push and pull scope on the
// repositories of push, pull scope on those of pull.
func (c *Client) session(ctx context.Context, o options, push, pull []name.Repository) (*session, error) {
	var order []string
	regs := map[string]name.Registry{}
	scopes := map[string][]string{}
	repos := map[string][]string{}
	add := func(r name.Repository, scope string) {
		key := r.RegistryStr()
		if _, ok := regs[key]; !ok {
			order = append(order, key)
			regs[key] = r.Registry
		}
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
	s := &session{o: o, transports: map[string]http.RoundTripper{}}
	for _, key := range order {
		t, err := c.transport(ctx, regs[key], scopes[key])
		if err != nil {
			return nil, fmt.Errorf("connecting to registry %s (for %s): %w", key, strings.Join(repos[key], ", "), err)
		}
		s.transports[key] = t
	}
	return s, nil
}

// transport returns the Client's transport to reg if it holds every one of
// scopes, and otherwise pings reg and asks for a token with the scopes it
// held and these, and keeps that transport for later calls.
func (c *Client) transport(ctx context.Context, reg name.Registry, scopes []string) (http.RoundTripper, error) {
	c.mu.Lock()
	ra, ok := c.regs[reg.RegistryStr()]
	if !ok {
		ra = &registryAuth{}
		c.regs[reg.RegistryStr()] = ra
	}
	c.mu.Unlock()

	ra.mu.Lock()
	defer ra.mu.Unlock()
	if ra.rt != nil && holds(ra.scopes, scopes) {
		return ra.rt, nil
	}
	want := slices.Clone(ra.scopes)
	for _, s := range scopes {
		if !holds(want, []string{s}) {
			want = append(want, s)
		}
	}
	auth, err := c.o.keychain.Resolve(reg)
	if err != nil {
		return nil, fmt.Errorf("finding credentials: %w", err)
	}
	t, err := transport.NewWithContext(ctx, reg, auth, c.rt, want)
	if err != nil {
		return nil, explain(reg, err)
	}
	ra.rt, ra.scopes = t, want
	return t, nil
}

// holds reports whether the scopes have covers each of want: the same
// scope, or one on the same repository with more actions (push and pull
// covers pull).
func holds(have, want []string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h string) bool { return covers(h, w) }) {
			return false
		}
	}
	return true
}

// covers reports whether scope h (repository:NAME:ACTIONS) grants every
// action of scope w on the same resource.
func covers(h, w string) bool {
	hi, wi := strings.LastIndex(h, ":"), strings.LastIndex(w, ":")
	if hi < 0 || wi < 0 || h[:hi] != w[:wi] {
		return h == w
	}
	granted := strings.Split(h[hi+1:], ",")
	for _, a := range strings.Split(w[wi+1:], ",") {
		if !slices.Contains(granted, a) {
			return false
		}
	}
	return true
}

// remote returns the options of a go-containerregistry call on ref that
// reads manifests and configs only: its blob reads are limited to
// MaxConfigSize (see limit.go).
func (s *session) remote(ctx context.Context, ref name.Reference) []remote.Option {
	return s.copying(configsOnly(ctx), ref)
}

// copying returns the options of a go-containerregistry call on ref that
// may move layers: the registry's authenticated transport, used as it is
// (no second retry layer, no second ping). go-containerregistry's writer
// still retries a whole operation when restartable says so: only a blob
// upload whose streamed body mab's transport could not send again, and
// then once.
func (s *session) copying(ctx context.Context, ref name.Reference) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(s.transports[ref.Context().RegistryStr()]),
		remote.WithJobs(s.o.jobs),
		remote.WithRetryBackoff(remote.Backoff{Duration: s.o.backoff, Factor: 2, Steps: 2}),
		remote.WithRetryPredicate(restartable),
	}
}
