package merge

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestMergeRetriesServerErrorAndHonoursRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var puts []time.Time
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isManifestPut(r, "1.4") {
				mu.Lock()
				puts = append(puts, time.Now())
				n := len(puts)
				mu.Unlock()
				switch n {
				case 1:
					http.Error(w, "boom", http.StatusInternalServerError)
					return
				case 2:
					w.Header().Set("Retry-After", "1")
					http.Error(w, "slow down", http.StatusTooManyRequests)
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	repo := repoIn(t, host, "app")
	src := push(t, repo, "a", platformImage(t, amd64, ""))
	pub, err := Merge(context.Background(), repo.Tag("1.4"), []Source{{Ref: src}}, fast)
	if err != nil {
		t.Fatalf("merge failed although the registry recovered: %v", err)
	}
	if len(puts) != 3 {
		t.Fatalf("%d manifest PUTs, want 3 (500, 429, success)", len(puts))
	}
	if wait := puts[2].Sub(puts[1]); wait < time.Second {
		t.Errorf("retried %v after a 429 with Retry-After: 1", wait)
	}
	if d, err := remote.Head(repo.Tag("1.4")); err != nil || d.Digest != pub.Digest {
		t.Errorf("tag holds %v (%v), want %s", d, err, pub.Digest)
	}
}

func TestRetryingRefusesPlainHTTPOffLoopback(t *testing.T) {
	called := false
	rt := &retrying{inner: roundTripFunc(func(*http.Request) (*http.Response, error) {
		called = true
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}), attempts: 1}
	for _, u := range []string{"http://10.0.0.5:5000/v2/", "http://registry.local/v2/"} {
		req := httptest.NewRequest(http.MethodGet, u, nil)
		if _, err := rt.RoundTrip(req); !errors.Is(err, ErrPlainHTTP) {
			t.Errorf("%s: err = %v, want ErrPlainHTTP", u, err)
		}
	}
	if called {
		t.Error("a plain-HTTP request left without --insecure")
	}
	for _, u := range []string{"http://127.0.0.1:5000/v2/", "http://localhost:5000/v2/", "http://[::1]:5000/v2/"} {
		if _, err := rt.RoundTrip(httptest.NewRequest(http.MethodGet, u, nil)); err != nil {
			t.Errorf("%s: %v (loopback is allowed)", u, err)
		}
	}
	rt.plain.all = true
	if _, err := rt.RoundTrip(httptest.NewRequest(http.MethodGet, "http://10.0.0.5:5000/v2/", nil)); err != nil {
		t.Errorf("with insecure: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{"1": time.Second, "0": 0, now.Add(3 * time.Second).Format(http.TimeFormat): 3 * time.Second}
	for v, want := range cases {
		if got, ok := parseRetryAfter(v, now); !ok || got != want {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "soon", "-1"} {
		if _, ok := parseRetryAfter(v, now); ok {
			t.Errorf("parseRetryAfter(%q) accepted", v)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestMergeAmendSurvivesAnotherWriter: another job pushes the target while
// an amend runs, either after mab read it or right after mab wrote it.
// Both platforms of the other job survive, and mab's.
func TestMergeAmendSurvivesAnotherWriter(t *testing.T) {
	for _, when := range []string{"after the read", "after the write", "after the read-back"} {
		t.Run(when, func(t *testing.T) {
			var once sync.Once
			var competitor []byte
			var putSeen atomic.Bool
			host := wrappedRegistry(t, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					h.ServeHTTP(w, r)
					onTarget := strings.HasSuffix(r.URL.Path, "/manifests/1.4")
					var trigger bool
					switch when {
					case "after the read":
						trigger = onTarget && r.Method == http.MethodGet
					case "after the write":
						trigger = isManifestPut(r, "1.4")
					case "after the read-back":
						// Another amend that checked the target before mab's
						// write lands its own just after mab's read-back.
						trigger = onTarget && r.Method == http.MethodHead && putSeen.Load()
						putSeen.Store(putSeen.Load() || (competitor != nil && isManifestPut(r, "1.4")))
					}
					if trigger && competitor != nil {
						once.Do(func() {
							putCompetitor(t, h, competitor)
						})
					}
				})
			})
			ctx := context.Background()
			repo := repoIn(t, host, "app")
			amdImg := platformImage(t, amd64, types.OCIManifestSchema1)
			amd := push(t, repo, "amd64", amdImg)
			if _, err := Merge(ctx, repo.Tag("1.4"), []Source{{Ref: amd}}, WithMediaType(MediaTypeOCI)); err != nil {
				t.Fatal(err)
			}
			// The other job read {amd64} and adds s390x.
			s390x := v1.Platform{OS: "linux", Architecture: "s390x"}
			s390xImg := platformImage(t, s390x, types.OCIManifestSchema1)
			push(t, repo, "s390x", s390xImg)
			competitor = ociIndexRaw(t,
				mutate.IndexAddendum{Add: amdImg, Descriptor: v1.Descriptor{Platform: &amd64}},
				mutate.IndexAddendum{Add: s390xImg, Descriptor: v1.Descriptor{Platform: &s390x}})
			arm := push(t, repo, "arm64", platformImage(t, arm64, types.OCIManifestSchema1))
			pub, err := Merge(ctx, repo.Tag("1.4"), []Source{{Ref: arm}}, WithAmend(true), WithSettle(10*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			if pub.Attempts < 2 {
				t.Errorf("attempts = %d: the other writer went unnoticed", pub.Attempts)
			}
			l, err := Inspect(ctx, repo.Tag("1.4"))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range l.Children {
				got = append(got, c.Platform)
			}
			if strings.Join(got, " ") != "linux/amd64 linux/s390x linux/arm64" {
				t.Errorf("target lists %v, want amd64, s390x (the other job's) and arm64 (mab's)", got)
			}
		})
	}
}

func TestMergeBadInput(t *testing.T) {
	ctx := context.Background()
	host := testRegistry(t)
	repo := repoIn(t, host, "app")
	good := push(t, repo, "good", platformImage(t, amd64, ""))
	arm := push(t, repo, "arm", platformImage(t, arm64, ""))
	dead := httptest.NewServer(http.NotFoundHandler())
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	deadRef, _ := name.ParseReference(deadHost + "/app:1")
	missingTag, _ := name.ParseReference(host + "/app:nope")
	cases := []struct {
		name    string
		sources []Source
		opts    []Option
		is      error
		want    string
	}{
		{"missing source", []Source{{Ref: good}, {Ref: missingTag}}, nil, ErrNotFound, "source " + missingTag.String()},
		{"unreachable source", []Source{{Ref: good}, {Ref: deadRef}}, nil, nil, deadHost},
		{"duplicate platform", []Source{{Ref: good}, {Ref: good}}, nil, ErrDuplicatePlatform, "are both linux/amd64"},
		{"override contradicts config", []Source{{Ref: good, Platform: &arm64}}, nil, ErrPlatformMismatch, "override linux/arm64 contradicts the image config (linux/amd64)"},
		{"override of an index", []Source{{Ref: mustIndex(t, repo), Platform: &arm64}}, nil, ErrOverrideOfIndex, "needs a single image"},
		{"platform nobody provides", []Source{{Ref: good}}, []Option{WithPlatforms(arm64)}, ErrInvalid, "no source provides platform linux/arm64"},
		{"no source", nil, nil, ErrInvalid, "no source"},
		{"bad media type", []Source{{Ref: arm}}, []Option{WithMediaType("v1")}, ErrInvalid, "want auto, oci or docker"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := Merge(ctx, repo.Tag("bad"), c.sources, append(c.opts, fast)...)
			if err == nil {
				t.Fatal("accepted")
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("err = %v, want %v", err, c.is)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
			t.Log(err)
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %v to fail", time.Since(start))
			}
			if _, err := remote.Head(repo.Tag("bad")); err == nil {
				t.Error("the target was written although the merge failed")
			}
		})
	}
	if _, err := ParseSource("Bad Ref:x"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Bad Ref:x") {
		t.Errorf("ParseSource of a bad reference: %v", err)
	}
	for _, bad := range []string{"linux/", "linux/amd65", "plan10/amd64"} {
		if _, err := ParseSource(host + "/app:1=" + bad); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseSource of platform %q: %v", bad, err)
		}
	}
	var ov *OverrideError
	if _, err := Merge(ctx, repo.Tag("bad"), []Source{{Ref: good, Platform: &arm64}}); !errors.As(err, &ov) || ov.Override.Architecture != "arm64" || ov.Config.Architecture != "amd64" {
		t.Errorf("err = %v, want an *OverrideError from linux/amd64 to linux/arm64", err)
	}
}

func mustIndex(t *testing.T, repo name.Repository) name.Digest {
	t.Helper()
	d, _ := attested(t, repo, "idx", armv7)
	return d
}

func TestMergeOverridesAndPlatformFilter(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	noVariant := push(t, repo, "arm", platformImage(t, v1.Platform{OS: "linux", Architecture: "arm"}, ""))
	amd := push(t, repo, "amd", platformImage(t, amd64, ""))
	idx, _ := attested(t, repo, "idx", arm64)

	pub, err := Merge(ctx, repo.Tag("o"), []Source{{Ref: noVariant, Platform: &armv7}})
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatPlatform(pub.Manifest.Manifests[0].Platform); got != "linux/arm/v7" {
		t.Errorf("override that adds a variant: listed %s", got)
	}
	pub, err = Merge(ctx, repo.Tag("f"), []Source{{Ref: amd, Platform: &arm64}}, WithForce(true))
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatPlatform(pub.Manifest.Manifests[0].Platform); got != "linux/arm64" {
		t.Errorf("forced override: listed %s", got)
	}
	pub, err = Merge(ctx, repo.Tag("p"), []Source{{Ref: amd}, {Ref: idx}}, WithPlatforms(amd64))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pub.Manifest.Manifests); n != 1 || FormatPlatform(pub.Manifest.Manifests[0].Platform) != "linux/amd64" {
		t.Errorf("--platform linux/amd64 kept %v (the arm64 attestation must go with its image)", pub.Manifest.Manifests)
	}
}

func TestMergeAuthFailureNamesRegistryAndHidesCredentials(t *testing.T) {
	const user, secret = "ci", "s3cr3t-passw0rd"
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":right"))
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != want {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	repo := repoIn(t, host, "app")
	right := WithKeychain(staticKeychain{authn.FromConfig(authn.AuthConfig{Username: user, Password: "right"})})
	img := platformImage(t, amd64, "")
	if err := remote.Write(repo.Tag("a"), img, remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: user, Password: "right"}))); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	src := []Source{{Ref: repo.Digest(d.String())}}
	if _, err := Merge(context.Background(), repo.Tag("1"), src, right); err != nil {
		t.Fatalf("with the right password: %v", err)
	}
	wrong := WithKeychain(staticKeychain{authn.FromConfig(authn.AuthConfig{Username: user, Password: secret})})
	_, err := Merge(context.Background(), repo.Tag("2"), src, wrong, fast)
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	msg := err.Error()
	t.Log(msg)
	if !strings.Contains(msg, "registry "+host+" refused access (401 Unauthorized)") {
		t.Errorf("err = %q, want the registry and the status", msg)
	}
	var auth *AuthError
	if !errors.As(err, &auth) || auth.Registry != host || auth.StatusCode != http.StatusUnauthorized {
		t.Errorf("err = %#v, want an *AuthError naming %s and 401", auth, host)
	}
	for _, leak := range []string{secret, base64.StdEncoding.EncodeToString([]byte(user + ":" + secret)), "Authorization"} {
		if strings.Contains(msg, leak) {
			t.Errorf("err = %q shows %q", msg, leak)
		}
	}
}

func TestMergeAmendThatChangesNothingDoesNotWrite(t *testing.T) {
	var puts atomic.Int32
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isManifestPut(r, "1.4") {
				puts.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	repo := repoIn(t, host, "app")
	src := []Source{{Ref: push(t, repo, "a", platformImage(t, amd64, ""))}}
	first, err := Merge(context.Background(), repo.Tag("1.4"), src)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Merge(context.Background(), repo.Tag("1.4"), src, WithAmend(true))
	if err != nil {
		t.Fatal(err)
	}
	if puts.Load() != 1 || again.Digest != first.Digest {
		t.Errorf("%d PUTs, digest %s then %s: an amend with nothing new rewrote the tag", puts.Load(), first.Digest, again.Digest)
	}
}

func TestMergeRetriesDroppedConnection(t *testing.T) {
	// Two drops: net/http itself may resend once on a reused connection.
	var drops atomic.Int32
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/manifests/a") && drops.Add(1) <= 2 {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				conn.Close()
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	repo := repoIn(t, host, "app")
	push(t, repo, "a", platformImage(t, amd64, ""))
	if _, err := Merge(context.Background(), repo.Tag("1.4"), []Source{{Ref: repo.Tag("a")}}, fast); err != nil {
		t.Fatalf("merge failed on one dropped connection: %v", err)
	}
	if drops.Load() < 3 {
		t.Errorf("%d attempts, want 2 dropped and 1 answered", drops.Load())
	}
}
