package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/merge"
)

// A registry that refuses mab's (absent) credentials: merge names the
// registry, the command adds how to log in to it.
func TestRefusedRegistryNamesDockerLogin(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials at all
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	}))
	defer s.Close()
	host := strings.TrimPrefix(s.URL, "http://")
	for _, args := range [][]string{
		{"inspect", host + "/app:1"},
		{"merge", "-t", host + "/app:1", host + "/app:amd64"},
	} {
		_, _, err := run(t, args...)
		want := "registry " + host + " refused access (401 Unauthorized); log in with `mab login " + host + " -u USER --password-stdin` (or `docker login " + host + "`)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", args[0], err, want)
		}
	}
}

func TestAdviseMerge(t *testing.T) {
	plain := fmt.Errorf("pushing: %w", &merge.PlainHTTPError{Host: "10.0.0.5:5000"})
	auth := &merge.AuthError{Registry: "index.docker.io", StatusCode: http.StatusUnauthorized}
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("other"), "other"},
		{plain, "; pass --insecure-registry 10.0.0.5:5000 to allow plain HTTP to it"},
		{auth, "(401 Unauthorized); log in with `mab login -u USER --password-stdin` (or `docker login`)"},
		{errors.Join(plain, auth), "; log in with `mab login -u USER --password-stdin` (or `docker login`); pass --insecure-registry 10.0.0.5:5000 to allow plain HTTP to it"},
		{fmt.Errorf("a: %w", merge.ErrDockerList), "; use --media-type oci or auto"},
		{fmt.Errorf("a: %w", merge.ErrOverrideOfIndex), "; use --platform to pick its platforms"},
	}
	for _, c := range cases {
		got := adviseMerge(c.err)
		if c.err == nil {
			if got != nil {
				t.Errorf("adviseMerge(nil) = %v", got)
			}
			continue
		}
		if !strings.HasSuffix(got.Error(), c.want) || !errors.Is(got, c.err) {
			t.Errorf("adviseMerge(%q) = %q, want it to end with %q and wrap the error", c.err, got, c.want)
		}
	}
}

func TestAdviseBuilder(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: no BuildKit socket at unix:///x", builder.ErrUnreachable), "; start buildkitd, or pass --builder / set BUILDKIT_HOST (see `mab builder ls`)"},
		{&builder.AuthError{Registry: "reg.example.com", Err: errors.New("401 Unauthorized")}, "; log in with `mab login reg.example.com -u USER --password-stdin` (or `docker login reg.example.com`); mab reads the Docker config and its credential helpers"},
		{fmt.Errorf("%w: TLS needs a tcp:// builder, not unix:///x", builder.ErrTLS), "a tcp:// --node takes its own as PLATFORM=tcp://HOST:PORT,cacert=FILE,cert=FILE,key=FILE"},
	}
	for _, c := range cases {
		got := advise(c.err, "build")
		if !errors.Is(got, c.err) || !strings.HasSuffix(got.Error(), c.want) {
			t.Errorf("advise(%q) = %q, want it to end with %q and wrap the error", c.err, got, c.want)
		}
	}
	if advise(nil, "build") != nil {
		t.Error("advise(nil) is not nil")
	}
}
