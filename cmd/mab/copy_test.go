package main

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestCopyTargetTakesTheSourceTagOrDigest(t *testing.T) {
	tag := name.MustParseReference("reg.example.com/staging/app:1.4")
	dig := ref(t, "reg.example.com/staging/app@sha256:"+strings.Repeat("a", 64))
	for _, c := range []struct {
		dst  string
		src  name.Reference
		want string
	}{
		{"reg.example.com/prod/app", tag, "reg.example.com/prod/app:1.4"},
		{"reg.example.com/prod/app:stable", tag, "reg.example.com/prod/app:stable"},
		{"reg.example.com:5000/prod/app", tag, "reg.example.com:5000/prod/app:1.4"},
		{"reg.example.com/prod/app", dig, "reg.example.com/prod/app@sha256:" + strings.Repeat("a", 64)},
	} {
		got, err := copyTarget(c.dst, c.src, plainHTTPFlags{})
		if err != nil || got.String() != c.want {
			t.Errorf("copyTarget(%q, %s) = %v, %v; want %s", c.dst, c.src, got, err, c.want)
		}
	}
	if _, err := copyTarget("Bad Repo", tag, plainHTTPFlags{}); err == nil || !strings.Contains(err.Error(), `invalid DST "Bad Repo"`) {
		t.Errorf("bad DST: %v", err)
	}
}

func TestCopyCommand(t *testing.T) {
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, host+"/staging/app:1"), img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	stdout, stderr, err := run(t, "copy", "--referrers", host+"/staging/app:1", host+"/prod/app")
	if err != nil || strings.TrimSpace(stdout) != want.String() || !strings.Contains(stderr, "prod/app:1: 1 manifests, 0 referrers") {
		t.Fatalf("copy: %v\nstdout %q\nstderr %q", err, stdout, stderr)
	}
	if d, err := remote.Head(ref(t, host+"/prod/app:1")); err != nil || d.Digest != want {
		t.Errorf("prod/app:1 holds %v (%v), want %s", d, err, want)
	}
	if _, _, err := run(t, "copy", host+"/staging/app:1", host+"/staging/app:1"); err == nil || !strings.Contains(err.Error(), "onto itself") {
		t.Errorf("copy onto itself: %v", err)
	}
}

func ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
