package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/internal/platform"
)

// FuzzNewPlan builds plans from fuzzed platforms, tag, suffix, build
// argument, label and cache import, in a context with a Dockerfile. NewPlan
// dials nothing, so every input is answered here: never a panic, an error
// of one line, and for a plan, one arch tag per platform, each a valid tag
// of at most 128 characters in the final tag's repository, distinct from
// the others and from the final tag.
func FuzzNewPlan(f *testing.F) {
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Add("linux/amd64,linux/arm64", "127.0.0.1:5000/app:1.4", "", "A=1", "org.opencontainers.image.title=app", "", false)
	f.Add("linux/arm/v6,linux/arm/v7", "app:1", "{{.Tag}}-{{.Arch}}", "FROM_ENV", "k=", "type=registry,ref=r/c:{arch}", true)
	f.Add("linux/amd64,windows/amd64", "app", "{{.Tag}}-{{.OS}}-{{.Arch}}", "=x", "novalue", "x", false)
	f.Add("linux/arm64", "Repo:Tag", "{{.Tag}}/{{.Arch}}", "", "", " ", false)
	f.Add("linux/riscv64", "app:"+strings.Repeat("t", 122), "", "", "", "type=local,src=/tmp", false)
	f.Add("linux/386", "app:1", "{{range 50000000}}{{end}}", "", "", "", false)
	f.Add("linux/386", "app:1", `{{printf "%0999999d" 1}}`, "", "", "", false)
	f.Add("linux/386", "app:1", "{{.Tag}}\n-{{.Arch}}", "", "", "", false)
	f.Add("linux/amd64", "app:1", "{{.Tag}}", "", "", "", false)
	f.Add("linux/amd64", "app:1", "{{.Nope}}", "", "", "", false)
	f.Fuzz(func(t *testing.T, plats, tag, suffix, buildArg, label, cacheFrom string, insecure bool) {
		o := Options{
			Platforms: []string{plats}, Tags: []string{tag}, Suffix: suffix, ContextDir: dir, Insecure: insecure,
			BuildArgs: []string{buildArg}, Labels: []string{label},
		}
		if cacheFrom != "" {
			o.CacheFrom = []string{cacheFrom}
		}
		p, err := NewPlan(o, noenv)
		if err != nil {
			assertOneLine(t, err)
			return
		}
		want, _ := platform.ParseList(o.Platforms)
		if len(p.Targets) != len(want) {
			t.Fatalf("%d targets for %d platforms", len(p.Targets), len(want))
		}
		checkTargets(t, p.Final, p.Targets)
	})
}

// FuzzArchTags renders fuzzed --suffix templates for a fixed final tag and
// platforms that share an architecture, through ArchTags alone: never a
// panic, an answer within a second, an error of one line and short (no
// rendered tag echoed whole), and valid, distinct arch tags.
func FuzzArchTags(f *testing.F) {
	final := name.MustParseReference("registry.example.com/app:1.4").(name.Tag)
	plats, err := platform.ParseList([]string{"linux/amd64,linux/arm64,linux/arm/v7,linux/arm/v6,windows/amd64"})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"", DefaultSuffix, "{{.Tag}}-{{.OS}}-{{.Arch}}{{.Variant}}", "{{.Tag}}-{{.Arch}}", "{{.Tag}}",
		"{{.Tag}}_{{.OS}}_{{.Arch}}{{if .Variant}}_{{.Variant}}{{end}}", "{{with .Variant}}{{.}}{{else}}x{{end}}-{{.OS}}{{.Arch}}",
		"{{range 50000000}}{{end}}", "{{range 3000000}}a{{end}}", `{{define "a"}}{{template "a"}}{{end}}{{template "a"}}`,
		`{{printf "%0999999d" 1}}-{{.OS}}{{.Arch}}{{.Variant}}`, "{{.Nope}}", "{{.Tag}}/{{.Arch}}", "-{{.Tag}}", "{{",
		"{{.Tag}}\n{{.OS}}{{.Arch}}{{.Variant}}", `{{$x := printf "%s%s" .Tag .Tag}}{{$x}}{{.OS}}{{.Arch}}{{.Variant}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, suffix string) {
		start := time.Now()
		got, err := ArchTags(final, plats, suffix)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("ArchTags took %v", d)
		}
		if err != nil {
			assertOneLine(t, err)
			// The suffix itself may be quoted (twice, by a parse error),
			// what it rendered only by a prefix.
			if max := 400 + 3*len(suffix); len(err.Error()) > max {
				t.Fatalf("error of %d characters for a suffix of %d: %.200q…", len(err.Error()), len(suffix), err)
			}
			return
		}
		if len(got) != len(plats) {
			t.Fatalf("%d targets for %d platforms", len(got), len(plats))
		}
		checkTargets(t, final, got)
	})
}

// TestArchTagsBoundsSuffixRendering holds the two suffixes of issue 9: a
// loop that writes nothing for seconds and a tag rendered to megabytes.
func TestArchTagsBoundsSuffixRendering(t *testing.T) {
	final := name.MustParseReference("app:1.4").(name.Tag)
	plats, _ := platform.ParseList([]string{"linux/amd64"})
	for _, suffix := range []string{"{{range 50000000}}{{end}}", "{{range 3000000}}a{{end}}", `{{printf "%0999999d" 1}}`, `{{define "a"}}{{template "a"}}{{end}}{{template "a"}}`} {
		start := time.Now()
		_, err := ArchTags(final, plats, suffix)
		if err == nil {
			t.Fatalf("%s: accepted", suffix)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("%s: refused after %v", suffix, d)
		}
		if len(err.Error()) > 200 {
			t.Errorf("%s: error of %d characters: %.200s…", suffix, len(err.Error()), err)
		}
	}
}

func assertOneLine(t *testing.T, err error) {
	t.Helper()
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error has several lines: %q", err)
	}
}

func checkTargets(t *testing.T, final name.Tag, targets []Target) {
	t.Helper()
	seen := map[string]bool{final.TagStr(): true}
	for _, tg := range targets {
		s := tg.Tag.TagStr()
		if len(s) > 128 {
			t.Fatalf("arch tag of %d characters: %q", len(s), s)
		}
		if _, err := name.NewTag(final.Context().String()+":"+s, name.StrictValidation); err != nil || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "-") {
			t.Fatalf("arch tag %q is not a valid tag: %v", s, err)
		}
		if tg.Tag.Context() != final.Context() {
			t.Fatalf("arch tag %s is not in %s", tg.Tag, final.Context())
		}
		if seen[s] {
			t.Fatalf("arch tag %q given twice (or is the final tag)", s)
		}
		seen[s] = true
	}
}
