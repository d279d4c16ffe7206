package pipeline

import (
	"bytes"
	"context"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var (
	amd64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = ocispec.Platform{OS: "linux", Architecture: "arm64"}
)

func TestParseAnnotationsLevels(t *testing.T) {
	type m = map[string]string
	cases := []struct {
		name  string
		flags []string
		// What each level holds; manifest and descriptor for amd64, then arm64.
		index                  m
		manAMD, manARM         m
		descAMD, descARM       m
		indexDescriptor, merge bool
	}{
		{name: "bare is manifest", flags: []string{"k=v"}, manAMD: m{"k": "v"}, manARM: m{"k": "v"}},
		{name: "index", flags: []string{"index:k=v"}, index: m{"k": "v"}},
		{name: "manifest", flags: []string{"manifest:k=v"}, manAMD: m{"k": "v"}, manARM: m{"k": "v"}},
		{name: "manifest-descriptor", flags: []string{"manifest-descriptor:k=v"}, descAMD: m{"k": "v"}, descARM: m{"k": "v"}},
		{name: "one platform", flags: []string{"manifest[linux/arm64]:k=v"}, manARM: m{"k": "v"}},
		{name: "platform normalised", flags: []string{"manifest[linux/aarch64]:k=v", "manifest-descriptor[arm64]:d=1"}, manARM: m{"k": "v"}, descARM: m{"d": "1"}},
		{name: "several types", flags: []string{"index,manifest,manifest-descriptor:k=v"},
			index: m{"k": "v"}, manAMD: m{"k": "v"}, manARM: m{"k": "v"}, descAMD: m{"k": "v"}, descARM: m{"k": "v"}},
		{name: "one bracket per platform", flags: []string{"manifest[linux/amd64],manifest[linux/arm64]:k=v"}, manAMD: m{"k": "v"}, manARM: m{"k": "v"}},
		{name: "value with = and :", flags: []string{"index:org.opencontainers.image.source=https://x:1/a?b=c"}, index: m{"org.opencontainers.image.source": "https://x:1/a?b=c"}},
		{name: "empty value", flags: []string{"index:k="}, index: m{"k": ""}},
		{name: "platform wins, in either order", flags: []string{"manifest[linux/arm64]:k=arm", "manifest:k=all"}, manAMD: m{"k": "all"}, manARM: m{"k": "arm"}},
		{name: "last wins", flags: []string{"index:k=1", "index:k=2"}, index: m{"k": "2"}},
		{name: "index-descriptor is parsed", flags: []string{"index-descriptor:k=v"}, indexDescriptor: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := ParseAnnotations(c.flags)
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range []struct {
				what       string
				have, want m
			}{
				{"index", a.Index(), c.index},
				{"manifest amd64", a.Manifest(amd64), c.manAMD},
				{"manifest arm64", a.Manifest(arm64), c.manARM},
				{"descriptor amd64", a.Descriptor(amd64), c.descAMD},
				{"descriptor arm64", a.Descriptor(arm64), c.descARM},
			} {
				if len(got.have) != len(got.want) || !maps.Equal(got.have, got.want) {
					t.Errorf("%s = %v, want %v", got.what, got.have, got.want)
				}
			}
			if a.IndexDescriptor() != c.indexDescriptor {
				t.Errorf("IndexDescriptor() = %v", a.IndexDescriptor())
			}
		})
	}
}

func TestParseAnnotationsRefusesBadFlags(t *testing.T) {
	long := "index:" + strings.Repeat("k", 5000) + "\n" // no "="
	cases := []struct{ flag, want string }{
		{"novalue", `invalid --annotation "novalue": want [TYPE[PLATFORM],…:]KEY=VALUE`},
		{"", "want [TYPE[PLATFORM],…:]KEY=VALUE"},
		{"=v", "empty key"},
		{"index:=v", "empty key"},
		{"a b=c", "space"},
		{"index:a\tb=c", "space"},
		{"bogus:k=v", `unknown type "bogus"`},
		{"Manifest:k=v", `type "Manifest": want index, manifest`},
		{"com.example:k=v", `type "com.example"`},
		{":k=v", `type ""`},
		{"manifest[linux/amd65]:k=v", "amd65"},
		{"manifest[]:k=v", `type "manifest[]"`},
		{"manifest[linux/amd64,linux/arm64]:k=v", "one platform per bracket"},
		{"index[linux/amd64]:k=v", "index is one for the whole image"},
		{"index-descriptor[linux/amd64]:k=v", "index-descriptor is one for the whole image"},
		{long, "… (5007 bytes)"},
	}
	for _, c := range cases {
		_, err := ParseAnnotations([]string{"index:ok=1", c.flag})
		if err == nil {
			t.Errorf("%.80q: accepted", c.flag)
			continue
		}
		assertOneLine(t, err)
		if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "invalid --annotation ") {
			t.Errorf("%.80q: %v, want %q", c.flag, err, c.want)
		}
		if len(err.Error()) > 300 {
			t.Errorf("%.80q: error of %d bytes", c.flag, len(err.Error()))
		}
	}
}

func TestAnnotationsForBuild(t *testing.T) {
	built := []ocispec.Platform{amd64, arm64, {OS: "linux", Architecture: "arm", Variant: "v7"}}
	for _, c := range []struct{ flag, err string }{
		{"manifest[linux/arm64]:k=v", ""},
		{"manifest[linux/arm64/v8]:k=v", ""},
		{"manifest-descriptor[linux/arm]:k=v", ""},
		{"manifest[linux/s390x]:k=v", `invalid --annotation "manifest[linux/s390x]:k=v": annotation for linux/s390x, which is not among --platform`},
		{"manifest-descriptor[linux/arm/v6]:k=v", "annotation for linux/arm/v6, which is not among --platform"},
		{"index-descriptor:k=v", "mab writes no index around its index"},
	} {
		a, err := ParseAnnotations([]string{c.flag})
		if err != nil {
			t.Fatal(err)
		}
		err = a.ForBuild(built)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.flag, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, want %q", c.flag, err, c.err)
		}
	}
}

func TestAnnotationsForMerge(t *testing.T) {
	a, err := ParseAnnotations([]string{"bare=1", "index:i=2", "manifest-descriptor[linux/arm64]:d=3"})
	if err != nil {
		t.Fatal(err)
	}
	if a, err = a.ForMerge(); err != nil {
		t.Fatal(err)
	}
	if got := a.Index(); !maps.Equal(got, map[string]string{"bare": "1", "i": "2"}) {
		t.Errorf("Index() = %v: a bare annotation is the index's in merge", got)
	}
	if got := a.Manifest(arm64); len(got) != 0 {
		t.Errorf("Manifest() = %v", got)
	}
	if got := a.Descriptor(arm64); !maps.Equal(got, map[string]string{"d": "3"}) {
		t.Errorf("Descriptor(arm64) = %v", got)
	}
	if !a.HasIndexLevel() || len(a.MergeOptions()) != 2 {
		t.Errorf("HasIndexLevel() = %v, %d merge options", a.HasIndexLevel(), len(a.MergeOptions()))
	}
	for flag, want := range map[string]string{
		"manifest:k=v":              "mab merge does not rewrite images",
		"manifest[linux/amd64]:k=v": "mab merge does not rewrite images",
		"index-descriptor:k=v":      "no index descriptor to annotate",
	} {
		a, err := ParseAnnotations([]string{flag})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.ForMerge(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", flag, err, want)
		}
	}
	if none := (Annotations{}); none.HasIndexLevel() || len(none.MergeOptions()) != 0 {
		t.Error("the zero Annotations ask for something")
	}
}

// recorder is a fake builder that keeps the requests it was given.
type recorder struct {
	*fakeBuilder
	mu   sync.Mutex
	reqs []builder.Request
}

func (r *recorder) Build(ctx context.Context, req builder.Request, progress builder.Progress) ([]builder.Result, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return r.fakeBuilder.Build(ctx, req, progress)
}

func TestBuildPutsEachAnnotationAtItsLevel(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	rec := &recorder{fakeBuilder: w.builders["fake://default"]}
	r := w.runner()
	r.Dial = func(context.Context, string, builder.TLS) (Builder, error) { return rec, nil }
	p := w.plan(func(o *Options) {
		o.Platforms = []string{"linux/amd64,linux/arm64"}
		o.Annotations = []string{
			"index:org.opencontainers.image.source=https://example.com/app",
			"manifest[linux/arm64]:com.example.arch=arm64",
			"com.example.all=1",
			"manifest-descriptor:com.example.d=1",
			"manifest-descriptor[linux/amd64]:com.example.amd=yes",
		}
	})
	if _, err := r.Run(context.Background(), p, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	wantManifest := map[string]map[string]string{
		"linux/amd64": {"com.example.all": "1"},
		"linux/arm64": {"com.example.all": "1", "com.example.arch": "arm64"},
	}
	if len(rec.reqs) != 1 {
		t.Fatalf("%d requests", len(rec.reqs))
	}
	for _, tg := range rec.reqs[0].Targets {
		if want := wantManifest[platform.Key(tg.Platform)]; !maps.Equal(tg.Annotations, want) {
			t.Errorf("%s: target annotations %v, want %v", platform.Key(tg.Platform), tg.Annotations, want)
		}
	}
	idx := w.index(p.Final.String())
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type %s, want OCI", idx.MediaType)
	}
	if want := map[string]string{"org.opencontainers.image.source": "https://example.com/app"}; !maps.Equal(idx.Annotations, want) {
		t.Errorf("index annotations %v, want %v", idx.Annotations, want)
	}
	wantDesc := map[string]map[string]string{
		"linux/amd64": {"com.example.d": "1", "com.example.amd": "yes"},
		"linux/arm64": {"com.example.d": "1"},
	}
	for _, d := range idx.Manifests {
		key := d.Platform.OS + "/" + d.Platform.Architecture
		if want := wantDesc[key]; !maps.Equal(d.Annotations, want) {
			t.Errorf("%s: descriptor annotations %v, want %v", key, d.Annotations, want)
		}
	}
}

func TestBuildRefusesAnnotationsBeforeBuilding(t *testing.T) {
	dir := newContext(t)
	for _, flag := range []string{"manifest[linux/s390x]:k=v", "index-descriptor:k=v", "bogus:k=v", "=v"} {
		_, err := NewPlan(Options{
			Platforms: []string{"linux/amd64,linux/arm64"}, Tags: []string{"127.0.0.1:1/app:1"}, ContextDir: dir,
			Annotations: []string{flag},
		}, noenv)
		if err == nil || !strings.HasPrefix(err.Error(), "invalid --annotation ") {
			t.Errorf("%q: %v", flag, err)
		}
	}
}
