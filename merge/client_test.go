package merge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
)

// authCounts counts what a token-authenticated registry is asked: pings
// (GET /v2/), tokens, and the scopes of each token request.
type authCounts struct {
	pings, tokens atomic.Int64
	mu            sync.Mutex
	scopes        [][]string
}

func (a *authCounts) reset() {
	a.pings.Store(0)
	a.tokens.Store(0)
	a.mu.Lock()
	a.scopes = nil
	a.mu.Unlock()
}

func (a *authCounts) String() string {
	return fmt.Sprintf("%d pings, %d tokens", a.pings.Load(), a.tokens.Load())
}

// tokenRegistry starts the in-process registry behind a bearer-token
// challenge, as Docker Hub and most hosted registries answer, with its
// token endpoint on the same host. Any token request gets the token.
func tokenRegistry(t *testing.T, counts *authCounts) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			counts.tokens.Add(1)
			counts.mu.Lock()
			counts.scopes = append(counts.scopes, r.URL.Query()["scope"])
			counts.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"token":"granted"}`)
			return
		case "/v2/":
			counts.pings.Add(1)
		}
		if r.Header.Get("Authorization") != "Bearer granted" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test"`, r.Host))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"token required"}]}`, http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

var anonymous = WithKeychain(staticKeychain{authn.Anonymous})

// TestClientAuthenticatesEachRegistryOnce: a Merge of sources from another
// registry followed by a Verify of the target, on one Client, pings each
// registry and asks it for a token once. The package-level functions, a
// fresh Client each, authenticate to the target's registry twice.
func TestClientAuthenticatesEachRegistryOnce(t *testing.T) {
	ctx := context.Background()
	var target, source authCounts
	targetRepo := repoIn(t, tokenRegistry(t, &target), "app")
	sourceHost := tokenRegistry(t, &source)
	sources := singlePlatformSources(t, sourceHost, 3)
	tag := targetRepo.Tag("1.4")

	target.reset()
	source.reset()
	pub, err := Merge(ctx, tag, sources, anonymous)
	if err == nil {
		err = Verify(ctx, tag, pub.Digest, anonymous)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("package-level Merge, Verify: target registry %v; source registry %v", &target, &source)
	if target.pings.Load() != 2 || target.tokens.Load() != 2 {
		t.Errorf("package-level: target registry %v, want 2 of each (one per fresh Client)", &target)
	}

	target.reset()
	source.reset()
	c := New(anonymous)
	if pub, err = c.Merge(ctx, targetRepo.Tag("1.5"), sources); err == nil {
		err = c.Verify(ctx, targetRepo.Tag("1.5"), pub.Digest)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Client.Merge, Client.Verify: target registry %v; source registry %v", &target, &source)
	for name, got := range map[string]*authCounts{"target": &target, "source": &source} {
		if got.pings.Load() != 1 || got.tokens.Load() != 1 {
			t.Errorf("%s registry: %v, want 1 ping and 1 token", name, got)
		}
	}
	if want := "repository:app:push,pull"; len(target.scopes) != 1 || !slices.Contains(target.scopes[0], want) {
		t.Errorf("target token scopes %v, want %s", target.scopes, want)
	}
}

// TestClientWidensScopeOnce: a pull-only call, then a push, then pulls: the
// push gets one new token holding the scopes held so far and its own, and
// the later pulls reuse it.
func TestClientWidensScopeOnce(t *testing.T) {
	ctx := context.Background()
	var counts authCounts
	host := tokenRegistry(t, &counts)
	sources := singlePlatformSources(t, host, 2)
	repo := repoIn(t, host, "app")
	c := New(anonymous)
	counts.reset()
	if _, err := c.Inspect(ctx, sources[0].Ref); err != nil {
		t.Fatal(err)
	}
	pub, err := c.Merge(ctx, repo.Tag("1.4"), sources)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(ctx, repo.Tag("1.4"), pub.Digest); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Inspect(ctx, repo.Tag("1.4")); err != nil {
		t.Fatal(err)
	}
	if counts.pings.Load() != 2 || counts.tokens.Load() != 2 {
		t.Errorf("%v, want 2 of each: the Inspect's, and the Merge's wider one", &counts)
	}
	if len(counts.scopes) != 2 || !slices.Contains(counts.scopes[1], "repository:app:pull") || !slices.Contains(counts.scopes[1], "repository:app:push,pull") {
		t.Errorf("second token's scopes %v, want the pull held and the push", counts.scopes)
	}
}

func TestClientMethodRefusesClientOption(t *testing.T) {
	c := New()
	target, _ := name.NewTag("registry.invalid/app:1")
	_, err := c.Merge(context.Background(), target, []Source{{Ref: target}}, WithInsecure(true), WithAmend(true))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "WithInsecure configures a Client") {
		t.Errorf("err = %v, want WithInsecure refused", err)
	}
}

func TestScopeCovers(t *testing.T) {
	cases := []struct {
		have, want string
		ok         bool
	}{
		{"repository:app:push,pull", "repository:app:pull", true},
		{"repository:app:pull", "repository:app:pull", true},
		{"repository:app:pull", "repository:app:push,pull", false},
		{"repository:app:push,pull", "repository:other:pull", false},
		{"repository:team/app:push,pull", "repository:team/app:pull", true},
	}
	for _, c := range cases {
		if got := covers(c.have, c.want); got != c.ok {
			t.Errorf("covers(%q, %q) = %v, want %v", c.have, c.want, got, c.ok)
		}
	}
}

// A call option given to New is the default of every call; one given to
// the call overrides it for that call only.
func TestClientCallOptionDefaults(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	amd := push(t, repo, "amd", platformImage(t, amd64, ""))
	arm := push(t, repo, "arm", platformImage(t, arm64, ""))
	c := New(WithAmend(true), WithSettle(0))
	if _, err := c.Merge(ctx, repo.Tag("1"), []Source{{Ref: amd}}); err != nil {
		t.Fatal(err)
	}
	pub, err := c.Merge(ctx, repo.Tag("1"), []Source{{Ref: arm}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pub.Manifest.Manifests); n != 2 {
		t.Errorf("amend by default: %d children, want 2", n)
	}
	if pub, err = c.Merge(ctx, repo.Tag("1"), []Source{{Ref: arm}}, WithAmend(false)); err != nil {
		t.Fatal(err)
	}
	if n := len(pub.Manifest.Manifests); n != 1 {
		t.Errorf("WithAmend(false) on the call: %d children, want 1", n)
	}
}
