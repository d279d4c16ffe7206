package pipeline

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mab-build/mab/internal/platform"
	"github.com/mab-build/mab/merge"
)

// failAfterPut makes the registry answer 404 to GETs of the final tag's
// manifest once mab has PUT it: the read-back fails after the write.
func failAfterPut(w *world, tag string) {
	var mu sync.Mutex
	put := false
	w.fault = func(rw http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		if !strings.HasSuffix(r.URL.Path, "/manifests/"+tag) {
			return false
		}
		switch {
		case r.Method == http.MethodPut && !put:
			put = true
		case r.Method == http.MethodGet && put:
			http.Error(rw, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"injected"}]}`, http.StatusNotFound)
			return true
		}
		return false
	}
}

func fastRetries() []merge.Option { return []merge.Option{merge.WithRetry(2, time.Millisecond)} }

func TestFailedReadBackPutsEarlierIndexBack(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	final := w.host + "/app:1.4"
	before, err := pushImage(context.Background(), final, platform.Host())
	if err != nil {
		t.Fatal(err)
	}
	failAfterPut(w, "1.4")
	md := filepath.Join(t.TempDir(), "build.json")
	r := w.runner()
	r.Registry = fastRetries()
	res, err := r.Run(context.Background(), w.plan(func(o *Options) { o.MetadataFile = md }), &bytes.Buffer{})
	var published *PublishedError
	var unconfirmed *UnconfirmedError
	if err == nil || errors.As(err, &published) || errors.As(err, &unconfirmed) {
		t.Fatalf("err = %v, want a plain failure (the tag is as it was)", err)
	}
	if !strings.Contains(err.Error(), "put the earlier index "+before+" back under "+final) {
		t.Errorf("err = %v, want it to say the earlier index was put back", err)
	}
	w.fault = nil
	if got := w.head(final); got != before {
		t.Fatalf("the final tag holds %s, want the earlier %s", got, before)
	}
	if res.Digest != "" || !res.Restored || res.Before != before || res.Stage != StageChecked {
		t.Errorf("result = stage %s, digest %q, before %s, restored %v", res.Stage, res.Digest, res.Before, res.Restored)
	}
	var meta Metadata
	readJSON(t, md, &meta)
	if meta.Digest != "" || !meta.Restored || meta.Error == "" || meta.Before != before {
		t.Errorf("metadata = %+v", meta)
	}
}

func TestFailedReadBackWithNothingToRestoreSaysWhatTheTagHolds(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	failAfterPut(w, "1.4")
	r := w.runner()
	r.Registry = fastRetries()
	_, err := r.Run(context.Background(), w.plan(nil), &bytes.Buffer{})
	var unconfirmed *UnconfirmedError
	if !errors.As(err, &unconfirmed) {
		t.Fatalf("err = %v, want *UnconfirmedError", err)
	}
	w.fault = nil
	holds := w.head(w.host + "/app:1.4")
	if unconfirmed.Holds != holds || unconfirmed.Wrote != holds || !strings.Contains(err.Error(), "holds the unconfirmed index "+holds) || !strings.Contains(err.Error(), "no earlier index") {
		t.Errorf("err = %v; the tag holds %s", err, holds)
	}
}

func TestFailedWriteLeavesTagUnchanged(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	final := w.host + "/app:1.4"
	before, err := pushImage(context.Background(), final, platform.Host())
	if err != nil {
		t.Fatal(err)
	}
	w.fault = func(rw http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/1.4") {
			http.Error(rw, "injected", http.StatusInternalServerError)
			return true
		}
		return false
	}
	r := w.runner()
	r.Registry = fastRetries()
	res, err := r.Run(context.Background(), w.plan(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), final+" left unchanged") || exitsPublishedOrUnconfirmed(err) {
		t.Fatalf("err = %v, want the tag left unchanged", err)
	}
	if got := w.head(final); got != before || res.Stage != StageChecked {
		t.Errorf("tag holds %s (want %s), stage %s", got, before, res.Stage)
	}
}

func TestLoadFailureAfterPublishIsPublishedError(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	w.loadErr = errors.New("daemon gone")
	md := filepath.Join(t.TempDir(), "build.json")
	p := w.plan(func(o *Options) {
		o.Load, o.MetadataFile = true, md
		o.Platforms = []string{"linux/arm64," + platform.Format(platform.Host())}
	})
	res, err := w.runner().Run(context.Background(), p, &bytes.Buffer{})
	var published *PublishedError
	if !errors.As(err, &published) || !strings.Contains(err.Error(), "--load failed: daemon gone") {
		t.Fatalf("err = %v, want *PublishedError for --load", err)
	}
	if got := w.head(p.Final.String()); got != res.Digest || published.Digest != got || res.Stage != StageConfirmed {
		t.Errorf("tag holds %s; result digest %s, error digest %s, stage %s", got, res.Digest, published.Digest, res.Stage)
	}
	var meta Metadata
	readJSON(t, md, &meta)
	if meta.Digest != res.Digest || meta.Stage != StageConfirmed || !strings.Contains(meta.Error, "daemon gone") {
		t.Errorf("metadata = %+v", meta)
	}
}

func TestInterruptDuringWriteStillConfirms(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.fault = func(rw http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/1.4") {
			cancel() // the first Ctrl-C arrives as the index is written
		}
		return false
	}
	var stages []Stage
	r := w.runner()
	r.OnStage = func(s Stage) { stages = append(stages, s) }
	res, err := r.Run(ctx, w.plan(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatalf("err = %v: a write that completed must be read back and reported", err)
	}
	if got := w.head(w.host + "/app:1.4"); got == "" || got != res.Digest {
		t.Fatalf("tag holds %q, mab reported %q", got, res.Digest)
	}
	want := []Stage{StagePlanned, StageBuilt, StageChecked, StageWritten, StageConfirmed}
	if strings.Join(stageNames(stages), " ") != strings.Join(stageNames(want), " ") {
		t.Errorf("stages %v, want %v", stages, want)
	}
}

func TestInterruptBeforeWriteLeavesTagUntouched(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := w.runner()
	r.OnStage = func(s Stage) {
		if s == StageBuilt {
			cancel()
		}
	}
	_, err := r.Run(ctx, w.plan(nil), &bytes.Buffer{})
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "left unchanged") {
		t.Fatalf("err = %v, want canceled with the tag left unchanged", err)
	}
	if got := w.head(w.host + "/app:1.4"); got != "" {
		t.Fatalf("the final tag was written: %s", got)
	}
}

func TestStaleMetadataFileIsReplacedWhenTheBuilderIsUnreachable(t *testing.T) {
	w := newWorld(t) // no builder answers
	md := filepath.Join(t.TempDir(), "build.json")
	if err := os.WriteFile(md, []byte(`{"digest":"sha256:stale"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := w.runner().Run(context.Background(), w.plan(func(o *Options) { o.MetadataFile = md }), &bytes.Buffer{})
	if err == nil {
		t.Fatal("accepted")
	}
	var meta Metadata
	readJSON(t, md, &meta)
	if meta.Digest != "" || meta.Stage != StagePlanned || !strings.Contains(meta.Error, "no fake builder") || len(meta.Platforms) != 3 {
		t.Errorf("metadata = %+v, want the planned stage and the error", meta)
	}
}

func TestMetadataFileReplacesSymlinkInsteadOfFollowingIt(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "build.json")
	if err := os.Symlink(victim, md); err != nil {
		t.Fatal(err)
	}
	if _, err := w.runner().Run(context.Background(), w.plan(func(o *Options) { o.MetadataFile = md }), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("the symlink's target was overwritten: %q", b)
	}
	var meta Metadata
	readJSON(t, md, &meta)
	if meta.Stage != StageConfirmed || meta.Digest == "" {
		t.Errorf("metadata = %+v", meta)
	}
}

func exitsPublishedOrUnconfirmed(err error) bool {
	var p *PublishedError
	var u *UnconfirmedError
	return errors.As(err, &p) || errors.As(err, &u)
}

func stageNames(ss []Stage) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}
