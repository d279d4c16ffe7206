package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/platform"
)

// manifestPuts records the path of every manifest PUT the registry
// answers, in order, and lets a fault of its own answer first.
func manifestPuts(w *world, fault func(rw http.ResponseWriter, r *http.Request) bool) func() []string {
	var mu sync.Mutex
	var puts []string
	w.fault = func(rw http.ResponseWriter, r *http.Request) bool {
		if fault != nil && fault(rw, r) {
			return true
		}
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			mu.Lock()
			puts = append(puts, strings.TrimPrefix(r.URL.Path, "/v2/"))
			mu.Unlock()
		}
		return false
	}
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(puts)
	}
}

// tagList is the repository's tags, as GET /v2/REPO/tags/list answers.
func (w *world) tagList(repo string) []string {
	w.t.Helper()
	tags, err := remote.List(w.ref(w.host + "/" + repo + ":x").Context())
	if err != nil {
		return nil
	}
	slices.Sort(tags)
	return tags
}

func TestSeveralTagsHoldOneIndexAndChildrenAreCopiedBeforeAnyTag(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	puts := manifestPuts(w, nil)
	md := filepath.Join(t.TempDir(), "build.json")
	tags := []string{w.host + "/app:1.4", w.host + "/app:latest", w.host + "/other/app:1.4"}
	p := w.plan(func(o *Options) { o.Tags, o.MetadataFile = tags, md })
	res, err := w.runner().Run(context.Background(), p, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		if got := w.head(tag); got != res.Digest {
			t.Errorf("%s holds %q, want %s", tag, got, res.Digest)
		}
	}
	// The other repository's children arrive before the first tag, and
	// the first tag before the others and the arch tags.
	seq := puts()
	first := slices.Index(seq, "app/manifests/1.4")
	for i, put := range seq {
		switch {
		case strings.HasPrefix(put, "other/app/manifests/sha256:") && i > first:
			t.Errorf("child %s copied after the first tag was written: %v", put, seq)
		case (put == "app/manifests/latest" || put == "other/app/manifests/1.4" || strings.HasPrefix(put, "app/manifests/1.4-")) && i < first:
			t.Errorf("%s written before the first tag: %v", put, seq)
		}
	}
	var meta Metadata
	readJSON(t, md, &meta)
	if meta.ImageName != strings.Join(tags, ",") || meta.ImageDigest != res.Digest || !slices.Equal(meta.Tags, tags) || meta.Final != tags[0] {
		t.Errorf("metadata: final %s, tags %v, image.name %q, containerimage.digest %s", meta.Final, meta.Tags, meta.ImageName, meta.ImageDigest)
	}
}

func TestCopyFailureLeavesEveryTagUntouched(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	w.fault = func(rw http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && strings.HasPrefix(r.URL.Path, "/v2/other/") {
			http.Error(rw, `{"errors":[{"code":"DENIED","message":"injected"}]}`, http.StatusForbidden)
			return true
		}
		return false
	}
	p := w.plan(func(o *Options) { o.Tags = []string{w.host + "/app:1.4", w.host + "/other/app:1.4"} })
	r := w.runner()
	r.Registry = fastRetries()
	res, err := r.Run(context.Background(), p, &bytes.Buffer{})
	if err == nil || exitsPublishedOrUnconfirmed(err) || !strings.Contains(err.Error(), "left unchanged, no tag written") {
		t.Fatalf("err = %v, want a plain failure before any tag", err)
	}
	w.fault = nil
	if tags := w.tagList("app"); len(tags) != 0 {
		t.Errorf("the repository has tags %v after a failed copy", tags)
	}
	if res.Stage != StageBuilt || len(res.Digests()) != 0 {
		t.Errorf("stage %s, digests %v", res.Stage, res.Digests())
	}
}

func TestFailureOnASecondTagIsPublishedWithTheFirstConfirmed(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	w.fault = func(rw http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/manifests/latest") {
			http.Error(rw, "injected", http.StatusInternalServerError)
			return true
		}
		return false
	}
	md := filepath.Join(t.TempDir(), "build.json")
	final, second := w.host+"/app:1.4", w.host+"/app:latest"
	p := w.plan(func(o *Options) { o.Tags, o.MetadataFile = []string{final, second}, md })
	r := w.runner()
	r.Registry = fastRetries()
	res, err := r.Run(context.Background(), p, &bytes.Buffer{})
	var published *PublishedError
	if !errors.As(err, &published) {
		t.Fatalf("err = %v, want *PublishedError", err)
	}
	if want := "the index is under " + final + " and not under " + second; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to say %q", err, want)
	}
	w.fault = nil
	if got := w.head(final); got == "" || got != res.Digest || published.Digest != got {
		t.Errorf("the final tag holds %q; result %s, error %s", got, res.Digest, published.Digest)
	}
	if got := w.head(second); got != "" {
		t.Errorf("%s holds %s", second, got)
	}
	for _, tg := range p.Targets {
		if w.head(tg.Tag.String()) == "" {
			t.Errorf("arch tag %s not written after the confirmed index", tg.Tag)
		}
	}
	var meta Metadata
	readJSON(t, md, &meta)
	if meta.Digest != res.Digest || meta.ImageName != final || meta.Stage != StageConfirmed || !strings.Contains(meta.Error, "not under "+second) {
		t.Errorf("metadata = %+v", meta)
	}
}

func TestArchTagsAreWrittenOnlyAfterTheIndexIsConfirmed(t *testing.T) {
	t.Run("order", func(t *testing.T) {
		w := newWorld(t, amd64Host("fake://default"))
		puts := manifestPuts(w, nil)
		if _, err := w.runner().Run(context.Background(), w.plan(nil), &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		seq := puts()
		if len(seq) != 7 || seq[3] != "app/manifests/1.4" || !strings.HasPrefix(seq[4], "app/manifests/1.4-") {
			t.Errorf("manifest PUTs %v: want 3 by digest, the index, then the 3 arch tags", seq)
		}
	})
	t.Run("failed read-back", func(t *testing.T) {
		w := newWorld(t, amd64Host("fake://default"))
		if _, err := pushImage(context.Background(), w.host+"/app:1.4", platform.Host()); err != nil {
			t.Fatal(err)
		}
		failAfterPut(w, "1.4")
		r := w.runner()
		r.Registry = fastRetries()
		if _, err := r.Run(context.Background(), w.plan(nil), &bytes.Buffer{}); err == nil {
			t.Fatal("accepted")
		}
		w.fault = nil
		if tags := w.tagList("app"); !slices.Equal(tags, []string{"1.4"}) {
			t.Errorf("tags %v after a failed read-back, want only the restored 1.4", tags)
		}
	})
	t.Run("failed platform", func(t *testing.T) {
		bk := amd64Host("fake://default")
		bk.fail = map[string]error{"linux/arm64": errors.New("RUN make: exit code 2")}
		w := newWorld(t, bk)
		md := filepath.Join(t.TempDir(), "build.json")
		var stderr bytes.Buffer
		if _, err := w.runner().Run(context.Background(), w.plan(func(o *Options) { o.MetadataFile = md }), &stderr); err == nil {
			t.Fatal("accepted")
		}
		if tags := w.tagList("app"); len(tags) != 0 {
			t.Errorf("tags %v after a failed platform, want none", tags)
		}
		var meta Metadata
		readJSON(t, md, &meta)
		for _, pm := range meta.Platforms {
			if pm.Tag != "" {
				t.Errorf("metadata says %s was tagged %s", pm.Platform, pm.Tag)
			}
		}
		if strings.Contains(stderr.String(), "app:1.4-amd64") {
			t.Errorf("the summary shows an arch tag that was not written:\n%s", stderr.String())
		}
	})
}

func TestPushByDigestWritesNoArchTag(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	md := filepath.Join(t.TempDir(), "build.json")
	var stderr bytes.Buffer
	res, err := w.runner().Run(context.Background(), w.plan(func(o *Options) { o.PushByDigest, o.MetadataFile = true, md }), &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if tags := w.tagList("app"); !slices.Equal(tags, []string{"1.4"}) {
		t.Errorf("tags %v, want only the final tag", tags)
	}
	var meta Metadata
	readJSON(t, md, &meta)
	if !meta.PushByDigest || !meta.Merged || meta.Digest != res.Digest {
		t.Errorf("metadata = %+v", meta)
	}
	for i, pm := range meta.Platforms {
		if pm.Tag != "" || pm.Ref != w.host+"/app@"+res.Platforms[i].Digest {
			t.Errorf("platform %s: tag %q, ref %q", pm.Platform, pm.Tag, pm.Ref)
		}
	}
	if strings.Contains(stderr.String(), "1.4-amd64") {
		t.Errorf("the summary names an arch tag:\n%s", stderr.String())
	}
}

func TestNoMergeWritesNoIndex(t *testing.T) {
	t.Run("arch tags", func(t *testing.T) {
		w := newWorld(t, amd64Host("fake://default"))
		p := w.plan(func(o *Options) { o.NoMerge = true })
		res, err := w.runner().Run(context.Background(), p, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if tags := w.tagList("app"); !slices.Equal(tags, []string{"1.4-amd64", "1.4-arm64", "1.4-armv7"}) {
			t.Errorf("tags %v, want the arch tags and no final tag", tags)
		}
		want := []string{res.Platforms[0].Digest, res.Platforms[1].Digest, res.Platforms[2].Digest}
		if got := res.Digests(); !slices.Equal(got, want) || res.Stage != StageBuilt {
			t.Errorf("stdout digests %v, want %v; stage %s", got, want, res.Stage)
		}
	})
	t.Run("one platform by digest", func(t *testing.T) {
		w := newWorld(t, amd64Host("fake://default"))
		md := filepath.Join(t.TempDir(), "build.json")
		p := w.plan(func(o *Options) {
			o.NoMerge, o.PushByDigest, o.MetadataFile = true, true, md
			o.Tags, o.Platforms = []string{w.host + "/app"}, []string{"linux/arm64"}
		})
		res, err := w.runner().Run(context.Background(), p, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if tags := w.tagList("app"); len(tags) != 0 {
			t.Errorf("tags %v, want none", tags)
		}
		d := res.Platforms[0].Digest
		if got := res.Digests(); !slices.Equal(got, []string{d}) {
			t.Errorf("stdout digests %v, want [%s]", got, d)
		}
		var m map[string]any
		readJSON(t, md, &m)
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		// digest, mediaType, size, before, restored, error: no index.
		if want := []string{"containerimage.descriptor", "containerimage.digest", "final", "image.name", "merged", "platforms", "pushByDigest", "stage", "tags"}; !slices.Equal(keys, want) {
			t.Errorf("metadata keys %v, want %v", keys, want)
		}
		if m["containerimage.digest"] != d || m["image.name"] != w.host+"/app" || m["merged"] != false || m["pushByDigest"] != true || m["stage"] != "built" {
			t.Errorf("metadata = %v", m)
		}
		desc, _ := m["containerimage.descriptor"].(map[string]any)
		if desc["digest"] != d || desc["mediaType"] == "" || desc["size"] == float64(0) {
			t.Errorf("containerimage.descriptor = %v", desc)
		}
		plat := m["platforms"].([]any)[0].(map[string]any)
		for k, want := range map[string]any{"platform": "linux/arm64", "tag": "", "ref": w.host + "/app@" + d, "digest": d} {
			if plat[k] != want {
				t.Errorf("platforms[0].%s = %v, want %v", k, plat[k], want)
			}
		}
		if plat["mediaType"] == nil || plat["size"] == nil {
			t.Errorf("platforms[0] lacks mediaType or size: %v", plat)
		}
	})
	t.Run("several platforms have no one digest", func(t *testing.T) {
		w := newWorld(t, amd64Host("fake://default"))
		md := filepath.Join(t.TempDir(), "build.json")
		if _, err := w.runner().Run(context.Background(), w.plan(func(o *Options) { o.NoMerge, o.MetadataFile = true, md }), &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		readJSON(t, md, &m)
		for _, k := range []string{"containerimage.digest", "containerimage.descriptor", "image.name", "digest"} {
			if _, ok := m[k]; ok {
				t.Errorf("metadata has %s with --no-merge of 3 platforms", k)
			}
		}
	})
	t.Run("a failed platform tags nothing and prints nothing", func(t *testing.T) {
		bk := amd64Host("fake://default")
		bk.fail = map[string]error{"linux/arm/v7": errors.New("RUN make: exit code 2")}
		w := newWorld(t, bk)
		res, err := w.runner().Run(context.Background(), w.plan(func(o *Options) { o.NoMerge = true }), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "no tag written") || exitsPublishedOrUnconfirmed(err) {
			t.Fatalf("err = %v", err)
		}
		if tags := w.tagList("app"); len(tags) != 0 || len(res.Digests()) != 0 {
			t.Errorf("tags %v, digests %v", tags, res.Digests())
		}
	})
}

// overwriteAfter makes another writer put a different manifest under
// /v2/app/manifests/1.4 right after the registry answered the PUT whose
// path ends in after.
func overwriteAfter(w *world, after string) {
	var once sync.Once
	w.fault = func(rw http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPut || !strings.HasSuffix(r.URL.Path, after) {
			return false
		}
		w.reg.ServeHTTP(rw, r)
		once.Do(func() {
			// The other writer's "index" is any manifest the repository
			// has: the image just tagged.
			get := httptest.NewRecorder()
			w.reg.ServeHTTP(get, httptest.NewRequest(http.MethodGet, r.URL.Path, nil))
			body, _ := io.ReadAll(get.Result().Body)
			put := httptest.NewRequest(http.MethodPut, "/v2/app/manifests/1.4", bytes.NewReader(body))
			put.Header.Set("Content-Type", get.Header().Get("Content-Type"))
			rec := httptest.NewRecorder()
			w.reg.ServeHTTP(rec, put)
			if rec.Code != http.StatusCreated {
				w.t.Errorf("the other writer's PUT: %d %s", rec.Code, rec.Body)
			}
		})
		return true
	}
}

func TestOverwriteAfterTheConfirmIsReportedNotHidden(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	md := filepath.Join(t.TempDir(), "build.json")
	overwriteAfter(w, "/manifests/1.4-armv7")
	res, err := w.runner().Run(context.Background(), w.plan(func(o *Options) { o.MetadataFile = md }), &bytes.Buffer{})
	var unconfirmed *UnconfirmedError
	if !errors.As(err, &unconfirmed) || !unconfirmed.Overwritten {
		t.Fatalf("err = %v, want *UnconfirmedError (exit 4) for the overwrite", err)
	}
	w.fault = nil
	holds := w.head(w.host + "/app:1.4")
	if want := "was overwritten by another writer after mab confirmed it: it now holds " + holds + ", not " + unconfirmed.Wrote + "; this build wrote the arch tags 1.4-amd64, 1.4-arm64, 1.4-armv7 before it read the overwrite"; holds == unconfirmed.Wrote || err.Error() != w.host+"/app:1.4 "+want {
		t.Errorf("err\n got %v\nwant %s/app:1.4 %s", err, w.host, want)
	}
	if got := res.Digests(); len(got) != 0 {
		t.Errorf("stdout would print %v, a digest the tag no longer holds", got)
	}
	var meta Metadata
	readJSON(t, md, &meta)
	if meta.Digest != "" || meta.ImageDigest != "" || meta.Overwritten != holds || !strings.Contains(meta.Error, "overwritten by another writer") {
		t.Errorf("metadata: digest %q, containerimage.digest %q, overwritten %q, error %q", meta.Digest, meta.ImageDigest, meta.Overwritten, meta.Error)
	}
}

func TestDockerBuilderKeepsItsOwnArchTags(t *testing.T) {
	w := newWorld(t, amd64Host("docker"))
	puts := manifestPuts(w, nil)
	p := w.plan(func(o *Options) { o.Builder = "docker" })
	res, err := w.runner().Run(context.Background(), p, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	// Three pushes by tag during the build, the index: no arch tag twice.
	if seq := puts(); len(seq) != 4 {
		t.Errorf("manifest PUTs %v, want the daemon's 3 and the index", seq)
	}
	for i, tg := range p.Targets {
		if got := w.head(tg.Tag.String()); got != res.Platforms[i].Digest || !res.Platforms[i].Tagged {
			t.Errorf("%s holds %q, want %s", tg.Tag, got, res.Platforms[i].Digest)
		}
	}
}

func TestPushByDigestRefusesADiscoveredDockerBuilderBeforeBuilding(t *testing.T) {
	bk := amd64Host("docker")
	w := newWorld(t, bk)
	r := w.runner()
	r.Discover = func(context.Context) (string, error) { return "docker", nil }
	_, err := r.Run(context.Background(), w.plan(func(o *Options) { o.Builder, o.PushByDigest = "", true }), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--push-by-digest cannot be done by the builder docker") {
		t.Fatalf("err = %v", err)
	}
	if len(bk.built) != 0 {
		t.Errorf("built %v", bk.built)
	}
}

func TestNewPlanPublicationRefusals(t *testing.T) {
	dir := newContext(t)
	base := Options{Platforms: []string{"linux/amd64"}, Tags: []string{"reg.example.com/app:1"}, ContextDir: dir}
	for _, c := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"a tag twice", func(o *Options) { o.Tags = append(o.Tags, "reg.example.com/app:1") }, `tag "reg.example.com/app:1" is given twice`},
		{"a bad second tag", func(o *Options) { o.Tags = append(o.Tags, "Repo:x") }, `invalid tag "Repo:x"`},
		{"an empty second tag", func(o *Options) { o.Tags = append(o.Tags, "") }, `invalid tag ""`},
		{"--suffix with --push-by-digest", func(o *Options) { o.Suffix, o.PushByDigest = "{{.Tag}}-x{{.Arch}}", true }, "--push-by-digest writes none"},
		{"--push-by-digest with --builder docker", func(o *Options) { o.Builder, o.PushByDigest = "docker", true }, "--push-by-digest cannot be done by the builder docker"},
		{"--push-by-digest with a docker node", func(o *Options) {
			o.Nodes, o.PushByDigest = []string{"linux/arm64=docker+unix:///run/docker.sock"}, true
		}, "by tag only"},
		{"--no-merge with two tags", func(o *Options) { o.NoMerge, o.Tags = true, append(o.Tags, "reg.example.com/app:latest") }, "--no-merge writes no final tag: give the tags to `mab merge`"},
		{"--no-merge with --load", func(o *Options) {
			o.NoMerge, o.Load, o.Platforms = true, true, []string{platform.Format(platform.Host())}
		}, "--no-merge writes none"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := base
			o.Tags = slices.Clone(base.Tags)
			c.edit(&o)
			_, err := NewPlan(o, noenv)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line containing %q", err, c.want)
			}
		})
	}
	// Allowed: tags in other repositories and registries; a repository
	// without a tag for a matrix job.
	o := base
	o.Tags = []string{"reg.example.com/app:1", "reg.example.com/app:latest", "other.example.com/mirror/app:1"}
	p, err := NewPlan(o, noenv)
	if err != nil || len(p.Tags) != 3 || p.Final.String() != o.Tags[0] || p.Targets[0].Tag.String() != "reg.example.com/app:1-amd64" {
		t.Errorf("several tags: %v, %+v", err, p)
	}
	o = base
	o.Tags, o.NoMerge, o.PushByDigest = []string{"reg.example.com/app"}, true, true
	if _, err := NewPlan(o, noenv); err != nil {
		t.Errorf("--no-merge --push-by-digest of a repository: %v", err)
	}
}

func TestDryRunShowsTagsAndWhatIsPublished(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	var out bytes.Buffer
	p := w.plan(func(o *Options) { o.Tags, o.PushByDigest = []string{w.host + "/app:1.4", w.host + "/app:latest"}, true })
	if err := w.runner().DryRun(context.Background(), p, &out); err != nil {
		t.Fatal(err)
	}
	rows := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []string{"also tag: " + w.host + "/app:latest", "no arch tags (--push-by-digest)", "linux/amd64 - fake://default native"} {
		if !strings.Contains(rows, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := w.runner().DryRun(context.Background(), w.plan(func(o *Options) { o.NoMerge = true }), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "(--no-merge): no index, no final tag") || !strings.Contains(out.String(), w.host+"/app:1.4-arm64") {
		t.Errorf("dry run of --no-merge:\n%s", out.String())
	}
	if w.tagList("app") != nil {
		t.Error("the dry run wrote a tag")
	}
}
