package faultproxy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/mab-build/mab/internal/testenv/faultproxy"
	"github.com/mab-build/mab/merge"
)

// setup starts the in-process registry behind a proxy and pushes an amd64
// image and an index of it, as tags "amd64" and "idx".
func setup(t *testing.T) (*faultproxy.Proxy, name.Repository) {
	t.Helper()
	up := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(up.Close)
	p := faultproxy.New(up.URL)
	t.Cleanup(p.Close)
	repo, err := name.NewRepository(p.Host() + "/app")
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	cfg, _ := img.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Tag("amd64"), img); err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	if err := remote.WriteIndex(repo.Tag("idx"), idx); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	return p, repo
}

var fast = merge.WithRetry(5, 10*time.Millisecond)

func TestIndexPutFailingTwiceThenSucceeding(t *testing.T) {
	p, repo := setup(t)
	p.Add(faultproxy.Rule{Method: "PUT", Path: `/manifests/1\.4$`, Times: 2, Fault: faultproxy.Status(500)})
	pub, err := merge.New(fast).Merge(context.Background(), repo.Tag("1.4"), []merge.Source{{Ref: repo.Tag("amd64")}})
	if err != nil {
		t.Fatalf("merge failed although the registry recovered: %v", err)
	}
	if n := p.Count("PUT", `/manifests/1\.4$`); n != 3 {
		t.Errorf("%d index PUTs, want 3 (500, 500, success)", n)
	}
	if d, err := remote.Head(repo.Tag("1.4")); err != nil || d.Digest != pub.Digest {
		t.Errorf("tag holds %v (%v), want %s", d, err, pub.Digest)
	}
}

func TestRetryAfterAndDropAreRetried(t *testing.T) {
	p, repo := setup(t)
	p.Add(
		faultproxy.Rule{Method: "GET", Path: `/manifests/amd64$`, Times: 2, Fault: faultproxy.Drop()},
		faultproxy.Rule{Method: "PUT", Path: `/manifests/1\.4$`, Times: 1, Fault: faultproxy.RetryAfter(429, "1")},
	)
	if _, err := merge.New(fast).Merge(context.Background(), repo.Tag("1.4"), []merge.Source{{Ref: repo.Tag("amd64")}}); err != nil {
		t.Fatal(err)
	}
	log := p.Requests()
	var faults []string
	for _, r := range log {
		if r.Fault != "" {
			faults = append(faults, r.Fault)
		}
	}
	if len(faults) != 3 {
		t.Errorf("faults applied: %v, want 2 drops and one 429", faults)
	}
}

func TestHangingRegistryFailsWithinBoundedTime(t *testing.T) {
	p, repo := setup(t)
	p.Add(faultproxy.Rule{Fault: faultproxy.Hang()})
	c := merge.New(merge.WithTimeout(200*time.Millisecond, time.Second), merge.WithRetry(2, 10*time.Millisecond))
	start := time.Now()
	_, err := c.Inspect(context.Background(), repo.Tag("idx"))
	took := time.Since(start)
	t.Logf("after %v: %v", took, err)
	if !errors.Is(err, merge.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if took > 3*time.Second {
		t.Errorf("took %v, want about 2 × 200ms", took)
	}
}

func TestLyingSourceIndexIsRefused(t *testing.T) {
	p, repo := setup(t)
	p.Add(faultproxy.Rule{Method: "GET", Path: `/manifests/idx$`, Fault: faultproxy.Alter(func(b []byte) []byte {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Error(err)
			return b
		}
		child := m["manifests"].([]any)[0].(map[string]any)
		child["size"] = child["size"].(float64) + 1
		out, _ := json.Marshal(m)
		return out
	})})
	_, err := merge.New(fast).Merge(context.Background(), repo.Tag("1.4"), []merge.Source{{Ref: repo.Tag("idx")}})
	var de *merge.DescriptorError
	if !errors.As(err, &de) || de.Field != "size" {
		t.Fatalf("err = %v, want a *DescriptorError about the size", err)
	}
	if n := p.Count("PUT", `/manifests/1\.4$`); n != 0 {
		t.Errorf("%d index PUTs after a lying source", n)
	}
}
