package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
)

// amd64Host is a builder on an amd64 machine with QEMU for arm64 and arm.
func amd64Host(addr string) *fakeBuilder {
	return &fakeBuilder{addr: addr, have: plats("linux/amd64", "linux/386", "linux/arm64", "linux/arm/v7")}
}

func TestRunPublishesEveryPlatformInOrder(t *testing.T) {
	bk := amd64Host("fake://default")
	w := newWorld(t, bk)
	md := filepath.Join(t.TempDir(), "build.json")
	p := w.plan(func(o *Options) { o.MetadataFile = md })
	var stderr bytes.Buffer
	res, err := w.runner().Run(context.Background(), p, &stderr)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr.String())
	}
	final := w.host + "/app:1.4"
	if got := w.head(final); got != res.Digest {
		t.Fatalf("the registry serves %s under %s, Run reported %s", got, final, res.Digest)
	}
	m := w.index(final)
	want := []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}
	if len(m.Manifests) != len(want) {
		t.Fatalf("index lists %d children, want %d", len(m.Manifests), len(want))
	}
	for i, d := range m.Manifests {
		if got := d.Platform.OS + "/" + d.Platform.Architecture + strings.TrimSuffix("/"+d.Platform.Variant, "/"); got != want[i] {
			t.Errorf("child %d is %s, want %s", i, got, want[i])
		}
		if d.Digest.String() != res.Platforms[i].Digest {
			t.Errorf("child %d is %s, the platform pushed %s", i, d.Digest, res.Platforms[i].Digest)
		}
		if tag := w.head(p.Targets[i].Tag.String()); tag != res.Platforms[i].Digest {
			t.Errorf("arch tag %s holds %s, want %s", p.Targets[i].Tag, tag, res.Platforms[i].Digest)
		}
	}
	var meta Metadata
	readJSON(t, md, &meta)
	if meta.Digest != res.Digest || len(meta.Platforms) != 3 {
		t.Fatalf("metadata = %+v", meta)
	}
	for i, emulated := range []bool{false, true, true} {
		if meta.Platforms[i].Emulated != emulated || meta.Platforms[i].Builder != "fake://default" {
			t.Errorf("metadata of %s: emulated %v on %s, want %v on fake://default", meta.Platforms[i].Platform, meta.Platforms[i].Emulated, meta.Platforms[i].Builder, emulated)
		}
	}
	if !bk.closed {
		t.Error("the builder was not closed")
	}
	if !strings.Contains(stderr.String(), "PLATFORM") || !strings.Contains(stderr.String(), "emulated") {
		t.Errorf("no summary on stderr:\n%s", stderr.String())
	}
}

func TestRunLeavesFinalTagAndWritesMetadataWhenOnePlatformFails(t *testing.T) {
	bk := amd64Host("fake://default")
	w := newWorld(t, bk)
	final := w.host + "/app:1.4"
	before, err := pushImage(context.Background(), final, platform.Host())
	if err != nil {
		t.Fatal(err)
	}
	bk.fail = map[string]error{"linux/arm64": errors.New("RUN make: exit code 2")}
	md := filepath.Join(t.TempDir(), "build.json")
	p := w.plan(func(o *Options) { o.MetadataFile = md })
	var stderr bytes.Buffer
	_, err = w.runner().Run(context.Background(), p, &stderr)
	if err == nil || !strings.Contains(err.Error(), "1 of 3 platforms failed") || !strings.Contains(err.Error(), "exit code 2") {
		t.Fatalf("err = %v, want one failed platform named", err)
	}
	if got := w.head(final); got != before {
		t.Fatalf("the final tag moved from %s to %s after a failed platform", before, got)
	}
	var meta Metadata
	readJSON(t, md, &meta)
	if meta.Digest != "" {
		t.Errorf("metadata names a final digest %s after a failure", meta.Digest)
	}
	for _, pm := range meta.Platforms {
		failed := pm.Platform == "linux/arm64"
		if failed != (pm.Error != "") || failed == (pm.Digest != "") {
			t.Errorf("metadata of %s: digest %q, error %q", pm.Platform, pm.Digest, pm.Error)
		}
	}
	if !strings.Contains(stderr.String(), "failed") {
		t.Errorf("the summary does not show the failure:\n%s", stderr.String())
	}
}

func TestRunFailsWholeBuilderWithoutTouchingFinalTag(t *testing.T) {
	bk := amd64Host("fake://default")
	bk.down = errors.New("session: connection reset")
	w := newWorld(t, bk)
	md := filepath.Join(t.TempDir(), "build.json")
	_, err := w.runner().Run(context.Background(), w.plan(func(o *Options) { o.MetadataFile = md }), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "builder fake://default: session: connection reset") {
		t.Fatalf("err = %v", err)
	}
	if got := w.head(w.host + "/app:1.4"); got != "" {
		t.Fatalf("the final tag was written: %s", got)
	}
	var meta Metadata
	readJSON(t, md, &meta)
	for _, pm := range meta.Platforms {
		if pm.Error == "" {
			t.Errorf("metadata of %s has no error", pm.Platform)
		}
	}
}

func TestRunRoutesToNodesDeterministically(t *testing.T) {
	// The default builder is amd64 with QEMU; two nodes run arm64 natively,
	// a third runs arm/v7 natively and is named for it.
	for range 10 {
		def := amd64Host("fake://default")
		arm1 := &fakeBuilder{addr: "fake://arm1", have: plats("linux/arm64", "linux/arm/v7")}
		arm2 := &fakeBuilder{addr: "fake://arm2", have: plats("linux/arm64", "linux/arm/v7")}
		pi := &fakeBuilder{addr: "fake://pi", have: plats("linux/arm/v7", "linux/arm/v6")}
		w := newWorld(t, def, arm1, arm2, pi)
		p := w.plan(func(o *Options) {
			o.Nodes = []string{"linux/arm64=fake://arm1", "linux/riscv64=fake://arm2", "linux/arm/v7=fake://pi"}
			o.Platforms = []string{"linux/amd64,linux/arm/v7,linux/arm64,linux/386"}
		})
		r, dialled := tlsRecorder(w.runner())
		res, err := r.Run(context.Background(), p, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		wantBuilder := map[string]string{"linux/amd64": "fake://default", "linux/386": "fake://default", "linux/arm64": "fake://arm1", "linux/arm/v7": "fake://pi"}
		for _, o := range res.Platforms {
			key := platform.Key(o.Target.Platform)
			if o.Builder != wantBuilder[key] || o.Emulated {
				t.Fatalf("%s built on %s (emulated %v), want natively on %s", key, o.Builder, o.Emulated, wantBuilder[key])
			}
		}
		if len(arm2.built) != 0 {
			t.Fatalf("arm2 built %v: a node named for a platform the plan lacks takes nothing", arm2.built)
		}
		if _, ok := dialled[arm2.addr]; ok && !arm2.closed {
			t.Fatal("an unused node was left open")
		}
	}
}

func TestRunSendsUnnamedPlatformToFirstNativeNode(t *testing.T) {
	for range 10 {
		def := amd64Host("fake://default")
		a := &fakeBuilder{addr: "fake://a", have: plats("linux/arm64")}
		b := &fakeBuilder{addr: "fake://b", have: plats("linux/arm64")}
		w := newWorld(t, def, a, b)
		// Both nodes are named for other platforms; arm64 is named for
		// neither, and both run it natively: the first given takes it.
		p := w.plan(func(o *Options) {
			o.Nodes = []string{"linux/s390x=fake://a", "linux/ppc64le=fake://b"}
			o.Platforms = []string{"linux/amd64,linux/arm64"}
		})
		res, err := w.runner().Run(context.Background(), p, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Platforms[1].Builder != "fake://a" {
			t.Fatalf("arm64 went to %s, want fake://a, the first node given", res.Platforms[1].Builder)
		}
	}
}

func TestRunModeAndHintComeFromTheStepsThatRan(t *testing.T) {
	for _, c := range []struct {
		name     string
		arm64    time.Duration
		cross    bool
		mode     Mode
		emulated time.Duration
		hint     bool
	}{
		{"RUN on arm64 for 10s", 10 * time.Second, false, ModeEmulated, 10 * time.Second, true},
		{"RUN on the build platform", 10 * time.Second, true, ModeCross, 0, false},
		{"RUN on arm64 under a second", 500 * time.Millisecond, false, ModeEmulated, 500 * time.Millisecond, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bk := amd64Host("fake://default")
			bk.took = map[string]time.Duration{"linux/amd64": 2 * time.Second, "linux/arm64": c.arm64}
			bk.cross = map[string]bool{"linux/arm64": c.cross}
			w := newWorld(t, bk)
			var stderr bytes.Buffer
			md := filepath.Join(t.TempDir(), "md.json")
			res, err := w.runner().Run(context.Background(), w.plan(func(o *Options) {
				o.Platforms = []string{"linux/amd64,linux/arm64"}
				o.MetadataFile = md
			}), &stderr)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Platforms[1]; got.Mode != c.mode || got.EmulatedTime != c.emulated || got.Emulated != (c.mode == ModeEmulated) {
				t.Errorf("arm64: mode %s, emulated %v for %s; want %s for %s", got.Mode, got.Emulated, got.EmulatedTime, c.mode, c.emulated)
			}
			if got := res.Platforms[0]; got.Mode != ModeNative || got.EmulatedTime != 0 {
				t.Errorf("amd64: mode %s, emulated for %s; want native, 0s", got.Mode, got.EmulatedTime)
			}
			var meta Metadata
			readJSON(t, md, &meta)
			if p := meta.Platforms[1]; p.Mode != c.mode || p.EmulatedSeconds != c.emulated.Seconds() || p.Emulated != (c.mode == ModeEmulated) {
				t.Errorf("metadata of arm64 = %+v", p)
			}
			hint := strings.Contains(stderr.String(), "hint: ") && strings.Contains(stderr.String(), "linux/arm64  Dockerfile:2  RUN make") &&
				strings.Contains(stderr.String(), "examples/go-cross")
			if hint != c.hint {
				t.Errorf("hint naming arm64's RUN at Dockerfile:2 shown %v, want %v\n%s", hint, c.hint, stderr.String())
			}
		})
	}
}

func TestRunRefusesPlatformTheBuilderCannotRunBeforeBuilding(t *testing.T) {
	bk := amd64Host("fake://default")
	w := newWorld(t, bk)
	p := w.plan(func(o *Options) { o.Platforms = []string{"linux/amd64,linux/riscv64"} })
	_, err := w.runner().Run(context.Background(), p, &bytes.Buffer{})
	var missing *MissingPlatformsError
	if !errors.As(err, &missing) || len(missing.Missing) != 1 || platform.Format(missing.Missing[0]) != "linux/riscv64" {
		t.Fatalf("err = %v, want riscv64 missing", err)
	}
	if len(bk.built) != 0 {
		t.Fatalf("built %v before preflight passed", bk.built)
	}
}

func TestRunDiscoversBuilderWhenNoneNamed(t *testing.T) {
	bk := amd64Host("fake://discovered")
	w := newWorld(t, bk)
	p := w.plan(func(o *Options) { o.Builder = "" })
	res, err := w.runner().Run(context.Background(), p, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Platforms[0].Builder != "fake://discovered" || p.Builder != "fake://discovered" {
		t.Errorf("built on %s, want the discovered builder", res.Platforms[0].Builder)
	}
}

func TestRunReportsUnreachableBuilder(t *testing.T) {
	w := newWorld(t)
	_, err := w.runner().Run(context.Background(), w.plan(nil), &bytes.Buffer{})
	if !errors.Is(err, builder.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	w = newWorld(t, amd64Host("fake://default"))
	_, err = w.runner().Run(context.Background(), w.plan(func(o *Options) { o.Nodes = []string{"linux/arm64=fake://gone"} }), &bytes.Buffer{})
	if !errors.Is(err, builder.ErrUnreachable) || !strings.Contains(err.Error(), "node fake://gone") {
		t.Fatalf("err = %v, want the unreachable node named", err)
	}
}

func TestRunLoadsHostPlatform(t *testing.T) {
	bk := amd64Host("fake://default")
	w := newWorld(t, bk)
	p := w.plan(func(o *Options) {
		o.Load = true
		o.Platforms = []string{"linux/arm64," + platform.Format(platform.Host())}
	})
	res, err := w.runner().Run(context.Background(), p, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := p.Final.Context().Digest(res.Platforms[1].Digest).String() + " as " + p.Final.String() + "," + p.Targets[1].Tag.String()
	if len(w.loaded) != 1 || w.loaded[0] != want {
		t.Errorf("loaded %v, want [%s]", w.loaded, want)
	}
}

func TestDryRunShowsRoutingAndModesAndPushesNothing(t *testing.T) {
	def := amd64Host("fake://default")
	arm := &fakeBuilder{addr: "fake://arm", have: plats("linux/arm64")}
	w := newWorld(t, def, arm)
	p := w.plan(func(o *Options) {
		o.Nodes = []string{"linux/arm64=fake://arm"}
		o.Platforms = []string{"linux/amd64,linux/arm64,linux/arm/v7,linux/s390x"}
	})
	var out bytes.Buffer
	if err := w.runner().DryRun(context.Background(), p, &out); err != nil {
		t.Fatal(err)
	}
	rows := strings.Join(strings.Fields(out.String()), " ")
	if want := strings.Join([]string{
		"linux/amd64", w.host + "/app:1.4-amd64", "fake://default", "native",
		"linux/arm64", w.host + "/app:1.4-arm64", "fake://arm", "native",
		"linux/arm/v7", w.host + "/app:1.4-armv7", "fake://default", "cross", "or", "emulated",
		"linux/s390x", w.host + "/app:1.4-s390x", "fake://default", "unsupported:",
	}, " "); !strings.Contains(rows, want) {
		t.Errorf("dry run rows, in --platform order, want %q:\n%s", want, out.String())
	}
	if len(def.built)+len(arm.built) != 0 || w.head(w.host+"/app:1.4") != "" {
		t.Error("the dry run built or pushed")
	}

	// Builders that do not answer: the plan is still shown.
	out.Reset()
	w2 := newWorld(t)
	err := w2.runner().DryRun(context.Background(), w2.plan(func(o *Options) { o.Nodes = []string{"linux/arm64=fake://arm"} }), &out)
	if err == nil || !strings.Contains(err.Error(), "fake://arm") {
		t.Errorf("dry run without builders: err = %v, want one naming fake://arm", err)
	}
	if rows := strings.Join(strings.Fields(out.String()), " "); !strings.Contains(rows, "linux/arm64 "+w2.host+"/app:1.4-arm64 fake://arm unknown") {
		t.Errorf("dry run without builders:\n%s", out.String())
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
}

func TestSameFailureOfEveryPlatformIsSaidOnce(t *testing.T) {
	bk := amd64Host("fake://default")
	scanner := errors.New("resolving generator image: 127.0.0.1:1/scanner: connection refused")
	bk.fail = map[string]error{"linux/amd64": scanner, "linux/arm64": scanner, "linux/arm/v7": errors.New("RUN make: exit code 2")}
	w := newWorld(t, bk)
	_, err := w.runner().Run(context.Background(), w.plan(nil), &bytes.Buffer{})
	if err == nil {
		t.Fatal("accepted")
	}
	want := "3 of 3 platforms failed, " + w.host + "/app:1.4 left unchanged: building linux/amd64, linux/arm64: " + scanner.Error() + "; building linux/arm/v7: RUN make: exit code 2"
	if err.Error() != want {
		t.Errorf("err\n got %s\nwant %s", err, want)
	}
	if !errors.Is(err, scanner) {
		t.Error("the error no longer wraps each platform's")
	}
}
