package merge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestSettleStartsOverWhenAnotherAmendPutsBackTheOldImage: mab amends
// arm64 with a new image; another job that had read the old index writes
// it back (with s390x added) right after mab's read-back. Every platform
// is still listed, but arm64 is the old image again: mab must start over,
// and the tag must end with mab's arm64 and the other job's s390x.
func TestSettleStartsOverWhenAnotherAmendPutsBackTheOldImage(t *testing.T) {
	var once sync.Once
	var competitor []byte
	var putSeen atomic.Bool
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if competitor == nil {
				return
			}
			if isManifestPut(r, "1.4") {
				putSeen.Store(true)
				return
			}
			if r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/manifests/1.4") && putSeen.Load() {
				once.Do(func() {
					putCompetitor(t, h, competitor)
				})
			}
		})
	})
	ctx := context.Background()
	repo := repoIn(t, host, "app")
	amdImg := platformImage(t, amd64, types.OCIManifestSchema1)
	oldArm := platformImage(t, arm64, types.OCIManifestSchema1)
	s390x := v1.Platform{OS: "linux", Architecture: "s390x"}
	s390xImg := platformImage(t, s390x, types.OCIManifestSchema1)
	amd, old := push(t, repo, "amd64", amdImg), push(t, repo, "arm64-old", oldArm)
	push(t, repo, "s390x", s390xImg)
	if _, err := Merge(ctx, repo.Tag("1.4"), []Source{{Ref: amd}, {Ref: old}}, WithMediaType(MediaTypeOCI)); err != nil {
		t.Fatal(err)
	}
	competitor = ociIndexRaw(t,
		mutate.IndexAddendum{Add: amdImg, Descriptor: v1.Descriptor{Platform: &amd64}},
		mutate.IndexAddendum{Add: oldArm, Descriptor: v1.Descriptor{Platform: &arm64}},
		mutate.IndexAddendum{Add: s390xImg, Descriptor: v1.Descriptor{Platform: &s390x}})
	newArm := push(t, repo, "arm64-new", platformImage(t, arm64, types.OCIManifestSchema1))
	pub, err := Merge(ctx, repo.Tag("1.4"), []Source{{Ref: newArm}}, WithAmend(true), WithSettle(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if pub.Attempts < 2 {
		t.Errorf("attempts = %d: the old arm64 put back went unnoticed", pub.Attempts)
	}
	l, err := Inspect(ctx, repo.Tag("1.4"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range l.Children {
		got[c.Platform] = c.Digest.String()
	}
	if got["linux/arm64"] != newArm.DigestStr() {
		t.Errorf("arm64 is %s, want mab's %s (the old one is %s)", got["linux/arm64"], newArm.DigestStr(), old.DigestStr())
	}
	if _, ok := got["linux/s390x"]; !ok || len(got) != 3 {
		t.Errorf("target lists %v, want amd64, arm64 (mab's) and s390x (the other job's)", got)
	}
	if l.Digest != pub.Digest {
		t.Errorf("tag holds %s, mab reported %s", l.Digest, pub.Digest)
	}
}

// handWritten serves indexes written by hand (which the in-process
// registry would refuse to store) in front of the registry.
type handWritten struct {
	mu      sync.Mutex
	indexes map[string]string // path → index
}

func (hw *handWritten) set(repo name.Repository, tag, raw string) name.Tag {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.indexes == nil {
		hw.indexes = map[string]string{}
	}
	hw.indexes["/v2/"+repo.RepositoryStr()+"/manifests/"+tag] = raw
	return repo.Tag(tag)
}

// serve answers GET and HEAD of a hand-written index; false for others.
func (hw *handWritten) serve(w http.ResponseWriter, r *http.Request) bool {
	hw.mu.Lock()
	raw, ok := hw.indexes[r.URL.Path]
	hw.mu.Unlock()
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	sum := sha256.Sum256([]byte(raw))
	w.Header().Set("Content-Type", string(types.OCIImageIndex))
	w.Header().Set("Docker-Content-Digest", "sha256:"+hex.EncodeToString(sum[:]))
	w.Header().Set("Content-Length", fmt.Sprint(len(raw)))
	if r.Method == http.MethodGet {
		w.Write([]byte(raw))
	}
	return true
}

// TestLyingSourceIndexIsRefused: a hand-written source index whose child
// descriptor lies about the size, the media type or (the registry serving
// other bytes) the digest, or names no digest, is refused with a
// *DescriptorError naming the child, and the target is not written.
func TestLyingSourceIndexIsRefused(t *testing.T) {
	var alter atomic.Value // the child path whose manifest is served altered
	alter.Store("")
	var hw handWritten
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hw.serve(w, r) {
				return
			}
			if r.Method == http.MethodGet && r.URL.Path == alter.Load().(string) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				body := bytes.Replace(rec.Body.Bytes(), []byte(`"schemaVersion":2`), []byte(`"schemaVersion": 2`), 1)
				w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
				w.Write(body)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	repo := repoIn(t, host, "app")
	img := platformImage(t, amd64, types.OCIManifestSchema1)
	d := push(t, repo, "amd64", img)
	raw, _ := img.RawManifest()
	child := func(mt string, size int, digest string) string {
		s := fmt.Sprintf(`{"mediaType":%q,"size":%d,`, mt, size)
		if digest != "" {
			s += fmt.Sprintf(`"digest":%q,`, digest)
		}
		return s + `"platform":{"architecture":"amd64","os":"linux"}}`
	}
	index := func(c string) string {
		return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + c + `]}`
	}
	oci, docker := string(types.OCIManifestSchema1), string(types.DockerManifestSchema2)
	cases := []struct {
		name, index, field, alter string
	}{
		{"size", index(child(oci, len(raw)+100, d.DigestStr())), "size", ""},
		{"media type", index(child(docker, len(raw), d.DigestStr())), "mediaType", ""},
		{"digest", index(child(oci, len(raw), d.DigestStr())), "digest", "/v2/app/manifests/" + d.DigestStr()},
		{"no digest", index(child(oci, len(raw), "")), "digest", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := hw.set(repo, "lying", c.index)
			alter.Store(c.alter)
			defer alter.Store("")
			_, err := Merge(context.Background(), repo.Tag("out-"+strings.ReplaceAll(c.name, " ", "-")), []Source{{Ref: src}})
			t.Log(err)
			var de *DescriptorError
			if !errors.Is(err, ErrBadDescriptor) || !errors.As(err, &de) {
				t.Fatalf("err = %v, want a *DescriptorError", err)
			}
			if de.Field != c.field || de.Position != 0 || de.Index != src.String() {
				t.Errorf("error names %s of child %d of %s, want %s of child 0 of %s", de.Field, de.Position, de.Index, c.field, src)
			}
			if c.name != "no digest" && !strings.Contains(err.Error(), d.DigestStr()) {
				t.Errorf("err = %q does not name the child %s", err, d.DigestStr())
			}
			if _, err := remote.Head(repo.Tag("out-" + strings.ReplaceAll(c.name, " ", "-"))); err == nil {
				t.Error("the target was written")
			}
		})
	}
	// An honest index of the same child passes, with the served size.
	pub, err := Merge(context.Background(), repo.Tag("honest"), []Source{{Ref: hw.set(repo, "honest-src", index(child(oci, len(raw), d.DigestStr())))}})
	if err != nil {
		t.Fatal(err)
	}
	if got := pub.Manifest.Manifests[0]; got.Size != int64(len(raw)) || got.MediaType != types.OCIManifestSchema1 {
		t.Errorf("child listed as %d bytes %s, want %d %s", got.Size, got.MediaType, len(raw), types.OCIManifestSchema1)
	}
}

// TestAmendRefusesTargetChildWithoutDigest: an index at the target whose
// child names no digest is not republished as "digest":":".
func TestAmendRefusesTargetChildWithoutDigest(t *testing.T) {
	var hw handWritten
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hw.serve(w, r) {
				h.ServeHTTP(w, r)
			}
		})
	})
	repo := repoIn(t, host, "app")
	hw.set(repo, "1.4", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3,"platform":{"architecture":"arm64","os":"linux"}}]}`)
	src := push(t, repo, "amd64", platformImage(t, amd64, ""))
	_, err := Merge(context.Background(), repo.Tag("1.4"), []Source{{Ref: src}}, WithAmend(true))
	var de *DescriptorError
	if !errors.As(err, &de) || de.Field != "digest" {
		t.Fatalf("err = %v, want a *DescriptorError for the missing digest", err)
	}
	if err := Verify(context.Background(), repo.Tag("1.4"), v1.Hash{}); !errors.Is(err, ErrBadDescriptor) {
		t.Errorf("Verify: err = %v, want ErrBadDescriptor", err)
	}
}

// TestIndexPutFailingForeverIsSentFiveTimes: mab's 5 attempts, not 10
// (go-containerregistry's writer used to run mab's 5 once more).
func TestIndexPutFailingForeverIsSentFiveTimes(t *testing.T) {
	var puts atomic.Int32
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isManifestPut(r, "1.4") {
				puts.Add(1)
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	repo := repoIn(t, host, "app")
	src := push(t, repo, "a", platformImage(t, amd64, ""))
	_, err := Merge(context.Background(), repo.Tag("1.4"), []Source{{Ref: src}}, WithRetry(5, time.Millisecond))
	if err == nil {
		t.Fatal("merge succeeded against a registry that always answers 500")
	}
	if got := puts.Load(); got != 5 {
		t.Errorf("%d index PUTs, want the documented 5", got)
	}
}

// TestStreamedUploadIsRestartedOnce: a blob upload whose streamed body
// fails with a 500 cannot be sent again by mab's transport, so
// go-containerregistry restarts the whole upload; the merge succeeds.
func TestStreamedUploadIsRestartedOnce(t *testing.T) {
	var patches atomic.Int32
	target := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPatch && patches.Add(1) == 1 {
				http.Error(w, "boom", http.StatusInternalServerError)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	source := repoIn(t, testRegistry(t), "src")
	src := push(t, source, "a", fixedImage(t, amd64, "layer", ""))
	if _, err := Merge(context.Background(), repoIn(t, target, "app").Tag("1.4"), []Source{{Ref: src}}, WithRetry(5, time.Millisecond)); err != nil {
		t.Fatalf("merge failed although the upload could be restarted: %v", err)
	}
	if patches.Load() < 2 {
		t.Errorf("%d PATCHes: the failed upload was not restarted", patches.Load())
	}
}

// TestRefusedRetryAfterSaysStatusAndWait: a Retry-After over the longest
// wait fails at once, saying the status and the wait asked for; one that
// overflows a time.Duration is not taken as a negative wait.
func TestRefusedRetryAfterSaysStatusAndWait(t *testing.T) {
	for _, c := range []struct {
		code        int
		after, want string
	}{
		{http.StatusTooManyRequests, "120", "429 Too Many Requests and asked to wait 120s (2m0s)"},
		{http.StatusServiceUnavailable, "9223372037", "503 Service Unavailable and asked to wait longer than 292 years (Retry-After: 9223372037)"},
		{http.StatusTooManyRequests, "99999999999999999999999", "asked to wait longer than 292 years (Retry-After: 99999999999999999999999)"},
	} {
		t.Run(c.after, func(t *testing.T) {
			var puts atomic.Int32
			host := wrappedRegistry(t, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if isManifestPut(r, "1.4") {
						puts.Add(1)
						w.Header().Set("Retry-After", c.after)
						http.Error(w, "slow down", c.code)
						return
					}
					h.ServeHTTP(w, r)
				})
			})
			repo := repoIn(t, host, "app")
			src := push(t, repo, "a", platformImage(t, amd64, ""))
			start := time.Now()
			_, err := Merge(context.Background(), repo.Tag("1.4"), []Source{{Ref: src}}, fast)
			t.Log(err)
			var ra *RetryAfterError
			if !errors.As(err, &ra) || ra.StatusCode != c.code || ra.Wait <= 0 {
				t.Fatalf("err = %v, want a *RetryAfterError with %d and a positive wait", err, c.code)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), host) {
				t.Errorf("err = %q, want %q and the registry", err, c.want)
			}
			if puts.Load() != 1 || time.Since(start) > 5*time.Second {
				t.Errorf("%d PUTs in %v, want 1 and no wait", puts.Load(), time.Since(start))
			}
		})
	}
}

// silentRegistry accepts connections and never answers.
func silentRegistry(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// TestSilentRegistryFailsWithinBoundedTime: a registry that accepts and
// never answers fails the call with a *TimeoutError naming it, after the
// attempts' idle timeouts, not never.
func TestSilentRegistryFailsWithinBoundedTime(t *testing.T) {
	host := silentRegistry(t)
	ref, _ := name.ParseReference(host + "/app:1.4")
	c := New(WithTimeout(200*time.Millisecond, time.Second), WithRetry(3, 10*time.Millisecond))
	start := time.Now()
	_, err := c.Inspect(context.Background(), ref)
	took := time.Since(start)
	t.Logf("failed after %v: %v", took, err)
	var te *TimeoutError
	if !errors.Is(err, ErrTimeout) || !errors.As(err, &te) {
		t.Fatalf("err = %v, want a *TimeoutError", err)
	}
	if te.Registry != host || te.Attempts != 3 || !te.Idle || !strings.Contains(err.Error(), "registry "+host) {
		t.Errorf("err = %q (%+v), want the registry %s and 3 attempts", err, te, host)
	}
	if took > 3*time.Second {
		t.Errorf("took %v, want about 3 × 200ms", took)
	}
}

// TestRequestDeadlineSparesBlobTransfers: a manifest that trickles in
// slower than the request deadline is cut (and retried); a blob that
// trickles as slowly is not, because bytes keep moving.
func TestRequestDeadlineSparesBlobTransfers(t *testing.T) {
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		for range 10 {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	}))
	defer srv.Close()
	rt := &retrying{inner: http.DefaultTransport, attempts: 2, backoff: time.Millisecond, idle: 200 * time.Millisecond, deadline: 250 * time.Millisecond}
	client := &http.Client{Transport: rt}
	get := func(path string) error {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = bytes.NewBuffer(nil).ReadFrom(resp.Body)
		return err
	}
	err := get("/v2/app/manifests/1.4")
	var te *TimeoutError
	if !errors.As(err, &te) || te.Idle || te.After != 250*time.Millisecond {
		t.Errorf("manifest trickling for 500ms: err = %v, want the 250ms request deadline", err)
	}
	gets.Store(0)
	if err := get("/v2/app/blobs/sha256:" + strings.Repeat("0", 64)); err != nil {
		t.Errorf("blob trickling for 500ms was cut: %v", err)
	}
	if gets.Load() != 1 {
		t.Errorf("%d GETs of the blob, want 1", gets.Load())
	}
}

// TestReadLimits: a 10 MiB manifest and a 20 MiB config are refused with
// a *TooLargeError, without reading them whole.
func TestReadLimits(t *testing.T) {
	big := bytes.Repeat([]byte(" "), 20<<20)
	configDigest := sha256.Sum256(big)
	cfgDigest := "sha256:" + hex.EncodeToString(configDigest[:])
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": types.OCIManifestSchema1,
		"config": map[string]any{"mediaType": types.OCIConfigJSON, "size": len(big), "digest": cfgDigest},
		"layers": []any{},
	})
	var served atomic.Int64
	var readWhole atomic.Bool
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.HasSuffix(r.URL.Path, "/manifests/huge"):
				w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
				// 10 MiB, chunked: no Content-Length to refuse early. After
				// 5 MiB (over the limit) the server waits for the client to
				// hang up; a client that keeps reading would wait here.
				// (Counting bytes written is no measure: loopback socket
				// buffers take megabytes that the client never reads.)
				for i := range 10 << 10 {
					if i == 5<<10 {
						select {
						case <-r.Context().Done():
							return
						case <-time.After(5 * time.Second):
							readWhole.Store(true)
						}
					}
					if _, err := w.Write(bytes.Repeat([]byte(" "), 1<<10)); err != nil {
						return
					}
				}
			case strings.HasSuffix(r.URL.Path, "/manifests/bigconfig"):
				w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
				w.Write(m)
			case strings.HasSuffix(r.URL.Path, "/blobs/"+cfgDigest):
				n, _ := w.Write(big)
				served.Add(int64(n))
			default:
				h.ServeHTTP(w, r)
			}
		})
	})
	repo := repoIn(t, host, "app")
	for _, c := range []struct{ tag, what string }{{"huge", "manifest"}, {"bigconfig", "config"}} {
		served.Store(0)
		_, err := Inspect(context.Background(), repo.Tag(c.tag))
		t.Log(err)
		var tl *TooLargeError
		if !errors.Is(err, ErrTooLarge) || !errors.As(err, &tl) || tl.What != c.what {
			t.Errorf("%s: err = %v, want a *TooLargeError for the %s", c.tag, err, c.what)
		}
		if readWhole.Load() || served.Load() >= int64(len(big)) && c.what == "config" {
			t.Errorf("%s: the client kept reading past the limit", c.tag)
		}
	}
	// The transport's own limit, for a config read whose size is not
	// declared to it: at most MaxConfigSize+1 bytes are read.
	rt := &retrying{inner: http.DefaultTransport, attempts: 1}
	req := httptest.NewRequest(http.MethodGet, "http://"+host+"/v2/app/blobs/"+cfgDigest, nil).WithContext(configsOnly(context.Background()))
	req.RequestURI = ""
	resp, err := rt.RoundTrip(req)
	if err == nil {
		var n int64
		n, err = bytes.NewBuffer(nil).ReadFrom(resp.Body)
		resp.Body.Close()
		if n > MaxConfigSize {
			t.Errorf("read %d bytes of a config, limit %d", n, MaxConfigSize)
		}
	}
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("20 MiB config through the transport: err = %v, want ErrTooLarge", err)
	}
}

func TestRetryingAllowsPlainHTTPPerHost(t *testing.T) {
	rt := &retrying{inner: roundTripFunc(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	}), attempts: 1, plain: plainHTTP{hosts: []string{"10.0.0.5:5000", "registry.local"}}}
	for u, ok := range map[string]bool{
		"http://10.0.0.5:5000/v2/":      true,
		"http://registry.local/v2/":     true,
		"http://REGISTRY.local:81/v2/":  true,
		"http://10.0.0.5:6000/v2/":      false,
		"http://auth.example.com/token": false,
		"http://127.0.0.1:9/v2/":        true,
	} {
		_, err := rt.RoundTrip(httptest.NewRequest(http.MethodGet, u, nil))
		if ok && err != nil {
			t.Errorf("%s: %v, want allowed", u, err)
		}
		if !ok && (!errors.Is(err, ErrPlainHTTP) || !strings.Contains(err.Error(), strings.TrimSuffix(strings.Split(u, "/")[2], "/"))) {
			t.Errorf("%s: err = %v, want ErrPlainHTTP naming the host", u, err)
		}
	}
}

// TestRegistryTextIsEscaped: a config whose os holds an escape sequence
// is never shown raw, by Inspect nor in Verify's errors.
func TestRegistryTextIsEscaped(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	evil := v1.Platform{OS: "linux\x1b]0;pwned\a\x1b[2J", Architecture: "amd64"}
	img := platformImage(t, evil, types.OCIManifestSchema1)
	single := push(t, repo, "evil", img)
	l, err := Inspect(ctx, single)
	if err != nil {
		t.Fatal(err)
	}
	if p := l.Children[0].Platform; strings.ContainsAny(p, "\x1b\a") || !strings.Contains(p, `linux\x1b]0;pwned\a\x1b[2J`) {
		t.Errorf("Inspect lists %q", p)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &amd64}})
	if err := remote.WriteIndex(repo.Tag("1.4"), idx); err != nil {
		t.Fatal(err)
	}
	err = Verify(ctx, repo.Tag("1.4"), v1.Hash{})
	if !errors.Is(err, ErrPlatformMismatch) || strings.ContainsAny(err.Error(), "\x1b\a") {
		t.Errorf("Verify: err = %q, want a mismatch without raw escapes", err)
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"linux/amd64":       "linux/amd64",
		"linux\x1b[31m":     `linux\x1b[31m`,
		"a\nb\tc\x7f":       `a\nb\tc\x7f`,
		"csi\u009bx":        `csi\u009bx`,
		"rtl\u202eexe":      `rtl\u202eexe`,
		"bad\xffutf8":       `bad\xffutf8`,
		"ünïcode \ufffd ok": "ünïcode \ufffd ok",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
