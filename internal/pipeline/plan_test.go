package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/internal/platform"
)

func noenv(string) string { return "" }

// newContext makes a build context with a Dockerfile.
func newContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestArchTagsDefaultSuffix(t *testing.T) {
	final := name.MustParseReference("registry.example.com/app:1.4").(name.Tag)
	plats, err := platform.ParseList([]string{"linux/amd64,linux/arm64,linux/arm/v7,linux/arm/v6,linux/386"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ArchTags(final, plats, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1.4-amd64", "1.4-arm64", "1.4-armv7", "1.4-armv6", "1.4-386"}
	for i, tg := range got {
		if tg.Tag.TagStr() != want[i] {
			t.Errorf("tag %d = %s, want %s", i, tg.Tag.TagStr(), want[i])
		}
		if tg.Tag.Context().String() != "registry.example.com/app" {
			t.Errorf("tag %d is in %s, want the final tag's repository", i, tg.Tag.Context())
		}
	}
}

func TestArchTagsRefusesCollisions(t *testing.T) {
	final := name.MustParseReference("app:1.4").(name.Tag)
	plats, _ := platform.ParseList([]string{"linux/arm/v6,linux/arm/v7"})
	_, err := ArchTags(final, plats, "{{.Tag}}-{{.Arch}}")
	if err == nil || !strings.Contains(err.Error(), "would both be pushed as") {
		t.Fatalf("err = %v, want a collision error", err)
	}
	plats, _ = platform.ParseList([]string{"linux/amd64,windows/amd64"})
	if _, err := ArchTags(final, plats, ""); err == nil {
		t.Fatal("linux/amd64 and windows/amd64 share the default arch tag, want an error")
	}
	if _, err := ArchTags(final, plats, "{{.Tag}}-{{.OS}}-{{.Arch}}"); err != nil {
		t.Fatalf("a suffix with the OS tells them apart: %v", err)
	}
}

func TestArchTagsRefusesOverlongAndInvalid(t *testing.T) {
	long := strings.Repeat("a", 122) // + "-amd64" = 128: allowed
	final, _ := name.NewTag("app:" + long)
	plats, _ := platform.ParseList([]string{"linux/amd64"})
	if _, err := ArchTags(final, plats, ""); err != nil {
		t.Fatalf("128 characters is allowed: %v", err)
	}
	plats, _ = platform.ParseList([]string{"linux/arm64"}) // + "-arm64" = 128 too
	if _, err := ArchTags(final, plats, ""); err != nil {
		t.Fatalf("128 characters is allowed: %v", err)
	}
	plats, _ = platform.ParseList([]string{"linux/arm/v7"}) // + "-armv7" = 128
	final, _ = name.NewTag("app:" + long + "x")
	_, err := ArchTags(final, plats, "")
	if err == nil || !strings.Contains(err.Error(), "at most 128") {
		t.Fatalf("129 characters: err = %v, want a length error", err)
	}
	if _, err := ArchTags(final, plats, "{{.Tag}}/{{.Arch}}"); err == nil {
		t.Fatal("a suffix that makes a '/' in a tag was accepted")
	}
	if _, err := ArchTags(final, plats, "{{.Nope}}"); err == nil {
		t.Fatal("a suffix with an unknown field was accepted")
	}
	if _, err := ArchTags(final, plats, "{{.Tag}}"); err == nil {
		t.Fatal("a suffix that gives the final tag itself was accepted")
	}
}

func TestNewPlan(t *testing.T) {
	dir := newContext(t)
	p, err := NewPlan(Options{
		Platforms:  []string{"linux/amd64,linux/arm64"},
		Tags:       []string{"127.0.0.1:5000/app:1.4"},
		ContextDir: dir,
		BuildArgs:  []string{"A=1", "FROM_ENV", "EMPTY="},
	}, func(k string) string {
		if k == "FROM_ENV" {
			return "env-value"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.DockerfileName != "Dockerfile" || p.DockerfileDir != dir || p.ContextDir != dir {
		t.Errorf("dockerfile %s in %s, context %s", p.DockerfileName, p.DockerfileDir, p.ContextDir)
	}
	if p.BuildArgs["A"] != "1" || p.BuildArgs["FROM_ENV"] != "env-value" || p.BuildArgs["EMPTY"] != "" {
		t.Errorf("build args = %v", p.BuildArgs)
	}
	if p.Builder != "" {
		t.Errorf("builder = %s, want none (discovered when the build runs)", p.Builder)
	}
	if p.Progress != "auto" {
		t.Errorf("progress = %s", p.Progress)
	}
}

func TestNewPlanBuilderFromEnvironment(t *testing.T) {
	dir := newContext(t)
	p, err := NewPlan(Options{Platforms: []string{"linux/amd64"}, Tags: []string{"app:1"}, ContextDir: dir},
		func(k string) string {
			if k == "BUILDKIT_HOST" {
				return "tcp://127.0.0.1:1234"
			}
			return ""
		})
	if err != nil {
		t.Fatal(err)
	}
	if p.Builder != "tcp://127.0.0.1:1234" {
		t.Errorf("builder = %s, want $BUILDKIT_HOST", p.Builder)
	}
	p, err = NewPlan(Options{Platforms: []string{"linux/amd64"}, Tags: []string{"app:1"}, ContextDir: dir, Builder: "unix:///x.sock"}, noenv)
	if err != nil {
		t.Fatal(err)
	}
	if p.Builder != "unix:///x.sock" {
		t.Errorf("builder = %s, want the flag to win", p.Builder)
	}
}

func TestNewPlanErrors(t *testing.T) {
	dir := newContext(t)
	base := Options{Platforms: []string{"linux/amd64"}, Tags: []string{"app:1"}, ContextDir: dir}
	cases := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"invalid platform", func(o *Options) { o.Platforms = []string{"linux/"} }, "invalid platform"},
		{"too many parts", func(o *Options) { o.Platforms = []string{"foo/bar/baz/qux"} }, "invalid platform"},
		{"duplicate platform", func(o *Options) { o.Platforms = []string{"linux/arm64,linux/aarch64"} }, "list each platform once"},
		{"upper-case repository", func(o *Options) { o.Tags = []string{"Repo:Tag"} }, "invalid tag"},
		{"129-character tag", func(o *Options) { o.Tags = []string{"app:" + strings.Repeat("t", 129)} }, "invalid tag"},
		{"no tag", func(o *Options) { o.Tags = nil }, "no tag"},
		{"missing context", func(o *Options) { o.ContextDir = filepath.Join(dir, "nope") }, "no such file"},
		{"context is a file", func(o *Options) { o.ContextDir = filepath.Join(dir, "Dockerfile") }, "not a directory"},
		{"missing Dockerfile", func(o *Options) { o.Dockerfile = filepath.Join(dir, "Nope.Dockerfile") }, "Dockerfile"},
		{"bad progress", func(o *Options) { o.Progress = "fancy" }, "invalid --progress"},
		{"bad build arg", func(o *Options) { o.BuildArgs = []string{"=x"} }, "invalid --build-arg"},
		{"metadata file in a missing folder", func(o *Options) { o.MetadataFile = filepath.Join(dir, "nope", "m.json") }, "invalid --metadata-file"},
		{"metadata file is a directory", func(o *Options) { o.MetadataFile = dir }, "it is a directory"},
		{"metadata file under /proc", func(o *Options) { o.MetadataFile = "/proc/mab-metadata.json" }, "cannot create a file in /proc"},
		{"metadata file under a file", func(o *Options) { o.MetadataFile = filepath.Join(dir, "Dockerfile", "m.json") }, "not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			c.edit(&o)
			_, err := NewPlan(o, noenv)
			if err == nil {
				t.Fatalf("accepted, want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has several lines: %q", err)
			}
		})
	}
}

func TestAttestationFlag(t *testing.T) {
	for in, want := range map[string]struct {
		v  string
		on bool
	}{"": {"", false}, "false": {"", false}, "true": {"mode=min", true}, "mode=max": {"mode=max", true}} {
		v, on, err := attestation("--provenance", in, "mode=min")
		if err != nil || v != want.v || on != want.on {
			t.Errorf("attestation(%q) = %q, %v, %v", in, v, on, err)
		}
	}
	if _, _, err := attestation("--sbom", "maybe", ""); err == nil {
		t.Error("--sbom maybe accepted")
	}
}

func TestInsecureRegistryCoversOnlyTheListedRegistry(t *testing.T) {
	ctx := newContext(t)
	for _, c := range []struct {
		tag   string
		hosts []string
		plain bool
	}{
		{"reg.internal:5000/app:1", []string{"reg.internal:5000"}, true},
		{"reg.internal:5000/app:1", []string{"reg.internal"}, true},
		{"reg.internal:5000/app:1", []string{"other.internal:5000"}, false},
		{"registry.example.com/app:1", nil, false},
	} {
		p, err := NewPlan(Options{Platforms: []string{"linux/amd64"}, Tags: []string{c.tag}, ContextDir: ctx, InsecureRegistries: c.hosts}, noenv)
		if err != nil {
			t.Fatal(err)
		}
		if p.Build.InsecurePush != c.plain || (p.Final.Scheme() == "http") != c.plain || p.Build.Insecure {
			t.Errorf("%s with %v: push insecure %v, scheme %s, caches insecure %v; want plain HTTP %v for the push only",
				c.tag, c.hosts, p.Build.InsecurePush, p.Final.Scheme(), p.Build.Insecure, c.plain)
		}
	}
}
