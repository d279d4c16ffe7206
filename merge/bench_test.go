package merge

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// singlePlatformSources pushes n images, each of its own platform, and
// returns them as sources by tag.
func singlePlatformSources(tb testing.TB, host string, n int) []Source {
	tb.Helper()
	repo := repoIn(tb, host, "app")
	sources := make([]Source, n)
	for i := range n {
		p := v1.Platform{OS: "linux", Architecture: fmt.Sprintf("arch%02d", i)}
		tag := repo.Tag(p.Architecture)
		if err := remote.Write(tag, fixedImage(tb, p, p.Architecture, "")); err != nil {
			tb.Fatal(err)
		}
		sources[i] = Source{Ref: tag}
	}
	return sources
}

// counted counts the HTTP requests the registry answers. (On loopback,
// go-containerregistry also probes https in parallel with the http ping;
// that TLS handshake fails and reaches no handler, so it is not counted.)
func counted(n *atomic.Int64) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			h.ServeHTTP(w, r)
		})
	}
}

// BenchmarkMerge merges 2, 8 and 32 single-platform images on the
// in-process registry and reports the HTTP requests of one merge.
func BenchmarkMerge(b *testing.B) {
	for _, n := range []int{2, 8, 32} {
		b.Run(fmt.Sprintf("children=%d", n), func(b *testing.B) {
			var requests atomic.Int64
			host := wrappedRegistry(b, counted(&requests))
			sources := singlePlatformSources(b, host, n)
			target := repoIn(b, host, "app").Tag("1.4")
			ctx := context.Background()
			requests.Store(0)
			b.ResetTimer()
			for b.Loop() {
				if _, err := Merge(ctx, target, sources); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(requests.Load())/float64(b.N), "requests/op")
		})
	}
}

// TestMergeRequestBudget keeps a merge within 2 requests per child plus 3
// (one ping, the index PUT, the read-back), children fetched concurrently.
func TestMergeRequestBudget(t *testing.T) {
	var inFlight, most atomic.Int32
	var requests atomic.Int64
	host := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				time.Sleep(20 * time.Millisecond)
			}
			h.ServeHTTP(w, r)
		})
	})
	const n = 8
	sources := singlePlatformSources(t, host, n)
	requests.Store(0)
	if _, err := Merge(context.Background(), repoIn(t, host, "app").Tag("1.4"), sources); err != nil {
		t.Fatal(err)
	}
	if got, budget := requests.Load(), int64(2*n+3); got > budget {
		t.Errorf("%d requests for %d children, budget %d", got, n, budget)
	}
	if most.Load() < 2 {
		t.Errorf("at most %d manifest fetch at a time: children are not fetched concurrently", most.Load())
	}
}
