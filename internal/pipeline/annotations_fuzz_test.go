package pipeline

import (
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzParseAnnotations parses two fuzzed --annotation flags: never a
// panic; an error of one line, short, that starts with the flag's name;
// and for flags accepted, what they say where they say it: the last flag's
// value is found under its key at a level, its key is neither empty nor
// spaced, and ForBuild and ForMerge answer in one line too.
func FuzzParseAnnotations(f *testing.F) {
	for _, s := range []string{
		"k=v", "index:k=v", "manifest:k=v", "manifest-descriptor:k=v", "index-descriptor:k=v",
		"manifest[linux/arm64]:com.example.arch=arm64", "manifest[linux/aarch64]:k=v", "manifest-descriptor[linux/arm/v7]:k=v",
		"index,manifest,manifest-descriptor:k=v", "manifest[linux/amd64],manifest[linux/arm64]:k=v",
		"manifest[linux/amd64,linux/arm64]:k=v", "index[linux/amd64]:k=v", "bogus:k=v", "=v", "novalue", "",
		"index:k=a=b:c", "a b=c", "manifest[linux/amd65]:k=v", "manifest[]:k=v", ":k=v", "k\n=v", "index:" + strings.Repeat("k", 300),
	} {
		f.Add(s, "index:org.opencontainers.image.source=https://example.com/app")
	}
	built := []ocispec.Platform{amd64, arm64, {OS: "linux", Architecture: "arm", Variant: "v7"}}
	f.Fuzz(func(t *testing.T, a, b string) {
		anns, err := ParseAnnotations([]string{a, b})
		if err != nil {
			checkFlagError(t, err)
			return
		}
		// b comes last: a may add to it, never hide it everywhere.
		k, v, _ := strings.Cut(b, "=")
		types, key, typed := strings.Cut(k, ":")
		if !typed {
			key = types
		}
		if key == "" || strings.ContainsAny(key, " \t\r\n") {
			t.Fatalf("%q: key %q accepted", b, key)
		}
		found := anns.Index()[key] == v || anns.IndexDescriptor()
		for _, p := range built {
			found = found || anns.Manifest(p)[key] == v || anns.Descriptor(p)[key] == v
		}
		if !found && !strings.Contains(types, "[") {
			t.Fatalf("%q: %q=%q found at no level", b, key, v)
		}
		if err := anns.ForBuild(built); err != nil {
			checkFlagError(t, err)
		}
		if m, err := anns.ForMerge(); err != nil {
			checkFlagError(t, err)
		} else {
			_ = m.MergeOptions()
			if len(m.Manifest(amd64)) > 0 {
				t.Fatalf("a manifest annotation passed ForMerge: %v", m.Manifest(amd64))
			}
		}
	})
}

// checkFlagError holds an error about an --annotation flag to one short line.
func checkFlagError(t *testing.T, err error) {
	t.Helper()
	assertOneLine(t, err)
	if !strings.HasPrefix(err.Error(), "invalid --annotation ") || len(err.Error()) > 600 {
		t.Fatalf("error %.700q", err)
	}
}
