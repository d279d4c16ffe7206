package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/merge"
)

const (
	amdDigest = "sha256:19ffeab6f8bc9293ac2c3fdf94ebe28396254c993aea0b5a542cfb02e0883fa3"
	armDigest = "sha256:ec637423e72cdd0b21aa8c80639d5810fb9c7b2c61a73c848f63353b4c8043f1"
	v7Digest  = "sha256:6c1e4b5c0e9b1f3f8d2f1b7e0f6a9d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4"
)

// sourcesString is the sources as the user would write them
// (REF@DIGEST[=PLATFORM]), joined by spaces.
func sourcesString(srcs []merge.Source) string {
	out := make([]string, len(srcs))
	for i, s := range srcs {
		out[i] = s.String()
	}
	return strings.Join(out, " ")
}

func TestSourcesFromMetadataReadsMabAndBuildxFiles(t *testing.T) {
	fallback, err := name.NewRepository("fallback.example.com/team/app")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		file string
		want string
	}{
		{"mab.json", "registry.example.com/app@" + amdDigest + "=linux/amd64 registry.example.com/app@" + armDigest + "=linux/arm64"},
		// Files of mab versions without "ref": the repository of "final".
		{"mab-old.json", "registry.example.com/app@" + v7Digest + "=linux/arm/v7"},
		{"buildx.json", "registry.example.com/app@" + amdDigest},
		// Several names: the first one's repository; the descriptor's platform.
		{"buildx-names.json", "mirror.example.com/team/app@" + v7Digest + "=linux/arm/v7"},
		// push-by-digest with name-canonical: a name that is NAME@DIGEST.
		{"buildx-canonical.json", "registry.example.com/app@" + armDigest + "=linux/arm64"},
		// No image.name: the repository of the first -t.
		{"buildx-noname.json", "fallback.example.com/team/app@sha256:7d5e3c1a9b8f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			srcs, err := SourcesFromMetadata(filepath.Join("testdata", "metadata", c.file), fallback, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := sourcesString(srcs); got != c.want {
				t.Errorf("sources\n got %s\nwant %s", got, c.want)
			}
			for _, s := range srcs {
				if _, ok := s.Ref.(name.Digest); !ok {
					t.Errorf("%s is not a reference by digest", s.Ref)
				}
			}
		})
	}
}

func TestSourcesFromMetadataRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := "sha256:19ffeab6"
	cases := []struct {
		name, path, want string
	}{
		{"failed platform", filepath.Join("testdata", "metadata", "mab-failed.json"), "mab-failed.json: linux/arm64 failed in that build: process"},
		{"platform without a digest", write("nodigest.json", `{"final":"r.example.com/app:1","stage":"planned","platforms":[{"platform":"linux/arm64","tag":"r.example.com/app:1-arm64"}]}`),
			`nodigest.json: linux/arm64 has no digest: that build did not push it (it stopped at stage "planned")`},
		{"no platform", write("none.json", `{"final":"r.example.com/app:1","stage":"planned","platforms":null}`), "none.json: lists no platform"},
		{"not JSON", write("notjson.json", "sha256:abc\n"), "notjson.json: not a metadata file: invalid character"},
		{"JSON but not an object", write("array.json", `["sha256:abc"]`), "array.json: not a metadata file"},
		{"empty", write("empty.json", "\n"), "empty.json: empty"},
		{"neither kind", write("neither.json", `{"digest":"`+amdDigest+`"}`), `neither.json: neither mab's metadata file (no "platforms") nor buildx's (no "containerimage.digest")`},
		{"unreadable", filepath.Join(dir, "missing.json"), "missing.json: no such file or directory"},
		{"a directory", dir, "is a directory"},
		{"buildx digest too short", write("short.json", `{"containerimage.digest":"`+short+`","image.name":"r.example.com/app"}`), `short.json: containerimage.digest: invalid digest "sha256:19ffeab6"`},
		{"buildx digest of another algorithm", write("sha512.json", `{"containerimage.digest":"sha512:`+strings.Repeat("a", 128)+`","image.name":"r.example.com/app"}`), "invalid digest"},
		{"buildx digest in upper case", write("upper.json", `{"containerimage.digest":"`+strings.ToUpper(amdDigest)+`","image.name":"r.example.com/app"}`), "invalid digest"},
		{"buildx descriptor contradicting the digest", write("contra.json", `{"containerimage.digest":"`+amdDigest+`","containerimage.descriptor":{"digest":"`+armDigest+`"},"image.name":"r.example.com/app"}`), "containerimage.descriptor names"},
		{"buildx without name or -t", write("noname.json", `{"containerimage.digest":"`+amdDigest+`"}`), "no image.name says which repository"},
		{"buildx bad name", write("badname.json", `{"containerimage.digest":"`+amdDigest+`","image.name":"Bad Name"}`), `image.name "Bad Name"`},
		{"mab bad digest", write("mabdigest.json", `{"final":"r.example.com/app:1","platforms":[{"platform":"linux/amd64","digest":"`+short+`"}]}`), "mabdigest.json: linux/amd64: invalid digest"},
		{"mab ref of another digest", write("mabref.json", `{"final":"r.example.com/app:1","platforms":[{"platform":"linux/amd64","ref":"r.example.com/app@`+armDigest+`","digest":"`+amdDigest+`"}]}`), "does not name its digest"},
		{"mab unknown platform", write("mabplat.json", `{"final":"r.example.com/app:1","platforms":[{"platform":"linux/amd65","digest":"`+amdDigest+`"}]}`), `unknown architecture "amd65"`},
		{"mab without a repository", write("mabrepo.json", `{"platforms":[{"platform":"linux/amd64","digest":"`+amdDigest+`"}]}`), `neither "ref" nor "final"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srcs, err := SourcesFromMetadata(c.path, name.Repository{}, nil)
			if err == nil {
				t.Fatalf("accepted: %s", sourcesString(srcs))
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("err is not one line: %q", err)
			}
		})
	}
}

// A reference is parsed with the options nameOpts gives for it, so a
// plain-HTTP registry is reached as the rest of the command reaches it.
func TestSourcesFromMetadataParsesWithNameOptions(t *testing.T) {
	var asked []string
	opts := func(ref string) []name.Option {
		asked = append(asked, ref)
		return []name.Option{name.Insecure}
	}
	srcs, err := SourcesFromMetadata(filepath.Join("testdata", "metadata", "mab.json"), name.Repository{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || srcs[0].Ref.Context().Scheme() != "http" {
		t.Errorf("asked for %v; scheme %s, want http", asked, srcs[0].Ref.Context().Scheme())
	}
}
