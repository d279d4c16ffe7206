package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeBuilder stands in for a BuildKit endpoint: it "builds" each target
// by pushing a small random image whose config names the target's
// platform by digest into the target's repository, in a real (in-process)
// registry, and reports its digest, as BuildKit's exporter does with
// push-by-digest. A builder whose address is a Docker daemon's
// (builder.PushesByTag) pushes under the arch tag instead, as dockerd does.
type fakeBuilder struct {
	addr string
	have []ocispec.Platform
	// fail makes the solve of a platform (platform.Key) fail with this error.
	fail map[string]error
	// down makes Build fail as a whole, as when the session cannot start.
	down error
	// took is reported as the duration of a platform's solve, and of its
	// one RUN step.
	took map[string]time.Duration
	// cross runs a platform's (platform.Key) RUN step on the builder's
	// own platform, as a stage FROM --platform=$BUILDPLATFORM does;
	// otherwise it runs on the target's platform.
	cross map[string]bool

	mu     sync.Mutex
	built  []string // platforms built here, platform.Key
	closed bool
}

func (f *fakeBuilder) Address() string { return f.addr }

func (f *fakeBuilder) Platforms(context.Context) ([]ocispec.Platform, error) { return f.have, nil }

func (f *fakeBuilder) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeBuilder) Build(ctx context.Context, req builder.Request, progress builder.Progress) ([]builder.Result, error) {
	if f.down != nil {
		return nil, f.down
	}
	out := make([]builder.Result, len(req.Targets))
	for i, t := range req.Targets {
		key := platform.Key(t.Platform)
		f.mu.Lock()
		f.built = append(f.built, key)
		f.mu.Unlock()
		out[i] = builder.Result{Target: t, Duration: f.took[key]}
		run := builder.Step{Name: "[2/2] RUN make", Platform: t.Platform, File: "Dockerfile", Line: 2, Ran: true, Duration: f.took[key]}
		if f.cross[key] && len(f.have) > 0 {
			run.Platform = f.have[0]
		}
		out[i].Steps = []builder.Step{run}
		done := progress.Step("[" + key + "] fake solve")
		if err := f.fail[key]; err != nil {
			out[i].Err = fmt.Errorf("building %s: %w", key, err)
			done(err)
			continue
		}
		ref := t.Name
		if !builder.PushesByTag(f.addr) {
			ref = repoOf(t.Name)
		}
		dgst, err := pushImage(ctx, ref, t.Platform)
		out[i].Digest, out[i].Err, out[i].Tagged = dgst, err, err == nil && builder.PushesByTag(f.addr)
		done(err)
	}
	return out, nil
}

// repoOf is the repository of the tag ref.
func repoOf(ref string) string {
	t, err := name.NewTag(ref)
	if err != nil {
		panic(err)
	}
	return t.Context().String()
}

// pushImage pushes a one-layer random image of platform p to ref: a tag,
// or, when ref is a repository, by digest only.
func pushImage(ctx context.Context, ref string, p ocispec.Platform) (string, error) {
	img, err := random.Image(64, 1)
	if err != nil {
		return "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return "", err
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	var dst name.Reference
	if strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") {
		dst, err = name.NewTag(ref)
	} else {
		dst, err = name.NewDigest(ref + "@" + d.String())
	}
	if err != nil {
		return "", err
	}
	if err := remote.Write(dst, img, remote.WithContext(ctx)); err != nil {
		return "", err
	}
	return d.String(), nil
}

// world is a set of fake builders and a registry for one test.
type world struct {
	t        *testing.T
	host     string // the registry's host:port
	builders map[string]*fakeBuilder
	loaded   []string
	loadErr  error
	// store is the fake Docker daemon's image store; archives what
	// `docker load` was sent.
	store    builder.DockerStore
	archives [][]byte
	// fault, when set, sees every registry request first; it answers it
	// itself (returning true) or lets the registry answer.
	fault func(w http.ResponseWriter, r *http.Request) bool
	// reg is the registry behind the fault, for a fault that writes.
	reg http.Handler
}

func newWorld(t *testing.T, builders ...*fakeBuilder) *world {
	t.Helper()
	w := &world{t: t, builders: map[string]*fakeBuilder{}}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	w.reg = reg
	s := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w.fault != nil && w.fault(rw, r) {
			return
		}
		reg.ServeHTTP(rw, r)
	}))
	t.Cleanup(s.Close)
	w.host = strings.TrimPrefix(s.URL, "http://")
	for _, b := range builders {
		w.builders[b.addr] = b
	}
	return w
}

func (w *world) runner() Runner {
	return Runner{
		Dial: func(_ context.Context, addr string, _ builder.TLS) (Builder, error) {
			b, ok := w.builders[addr]
			if !ok {
				return nil, fmt.Errorf("%w: no fake builder at %s", builder.ErrUnreachable, addr)
			}
			return b, nil
		},
		Discover: func(context.Context) (string, error) { return "fake://discovered", nil },
		Load: func(_ context.Context, src string, tags ...string) error {
			w.loaded = append(w.loaded, src+" as "+strings.Join(tags, ","))
			return w.loadErr
		},
		DockerStore: func(context.Context) (builder.DockerStore, error) { return w.store, nil },
		LoadArchive: func(_ context.Context, r io.Reader) ([]string, error) {
			b, err := io.ReadAll(r)
			w.archives = append(w.archives, b)
			return nil, errors.Join(err, w.loadErr)
		},
	}
}

// plan makes a plan for the world's registry; edit changes its options.
func (w *world) plan(edit func(*Options)) *Plan {
	w.t.Helper()
	o := Options{
		Platforms: []string{"linux/amd64,linux/arm64,linux/arm/v7"}, Tags: []string{w.host + "/app:1.4"},
		ContextDir: newContext(w.t), Builder: "fake://default", Progress: "quiet",
	}
	if edit != nil {
		edit(&o)
	}
	p, err := NewPlan(o, noenv)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) ref(s string) name.Reference {
	w.t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}

// head is the digest the registry serves for ref, or "" when none.
func (w *world) head(ref string) string {
	w.t.Helper()
	d, err := remote.Head(w.ref(ref))
	if err != nil {
		return ""
	}
	return d.Digest.String()
}

// index reads the index at ref.
func (w *world) index(ref string) *v1.IndexManifest {
	w.t.Helper()
	idx, err := remote.Index(w.ref(ref))
	if err != nil {
		w.t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

func plats(ss ...string) []ocispec.Platform {
	out := make([]ocispec.Platform, len(ss))
	for i, s := range ss {
		out[i] = platforms.MustParse(s)
	}
	return out
}
