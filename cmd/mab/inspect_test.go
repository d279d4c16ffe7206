package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// indexOf merges the amd64, arm64 and arm/v7 images of a fresh registry
// into app:1.4 and returns the registry's host and the children's digests
// by platform.
func indexOf(t *testing.T) (host string, child map[string]string) {
	t.Helper()
	host = registryWith(t, amd64, arm64, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	if _, _, err := run(t, "merge", "-t", host+"/app:1.4", host+"/app:amd64", host+"/app:arm64", host+"/app:armv7"); err != nil {
		t.Fatal(err)
	}
	child = map[string]string{
		"linux/amd64":  headDigest(t, host+"/app:amd64"),
		"linux/arm64":  headDigest(t, host+"/app:arm64"),
		"linux/arm/v7": headDigest(t, host+"/app:armv7"),
	}
	return host, child
}

// Raw means raw: the registry's bytes, whose sha256 is the digest, for
// an index and for a single image.
func TestInspectRawIsTheRegistrysBytes(t *testing.T) {
	host, _ := indexOf(t)
	for _, ref := range []string{host + "/app:1.4", host + "/app:arm64"} {
		out, _, err := run(t, "inspect", "--format", "raw", ref)
		if err != nil {
			t.Fatal(err)
		}
		d, err := remote.Get(mustTag(t, ref))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256Of(out); got != d.Digest.String() || out != string(d.Manifest) {
			t.Errorf("%s: sha256 of stdout is %s, the digest %s", ref, got, d.Digest)
		}
	}
}

func TestInspectPlatformPicksOneChild(t *testing.T) {
	host, child := indexOf(t)
	ref := host + "/app:1.4"
	for _, c := range []struct{ flag, want string }{
		{"linux/arm64", "linux/arm64"},
		{"aarch64", "linux/arm64"},
		{"linux/arm64/v8", "linux/arm64"},
		{"linux/arm", "linux/arm/v7"},
		{"amd64", "linux/amd64"},
	} {
		out, _, err := run(t, "inspect", "--platform", c.flag, "--format", "digest", ref)
		if err != nil {
			t.Fatalf("--platform %s: %v", c.flag, err)
		}
		if out != child[c.want]+"\n" {
			t.Errorf("--platform %s --format digest printed %q, want %s", c.flag, out, child[c.want])
		}
	}
	// Without --platform, --format digest is the index's.
	out, _, err := run(t, "inspect", "--format", "digest", ref)
	if err != nil || out != headDigest(t, ref)+"\n" {
		t.Errorf("--format digest printed %q (%v), want the index's %s", out, err, headDigest(t, ref))
	}
	// The other formats list only that child.
	out, _, err = run(t, "inspect", "--platform", "linux/arm64", ref)
	if err != nil || !strings.Contains(out, child["linux/arm64"]) || strings.Contains(out, child["linux/amd64"]) || strings.Contains(out, "linux/arm/v7") {
		t.Errorf("table with --platform linux/arm64 (%v):\n%s", err, out)
	}
	out, _, err = run(t, "inspect", "--platform", "linux/arm/v7", "--format", "json", ref)
	var l struct {
		Digest   string `json:"digest"`
		Children []struct {
			Platform string `json:"platform"`
		} `json:"manifests"`
	}
	if err != nil || json.Unmarshal([]byte(out), &l) != nil || len(l.Children) != 1 || l.Children[0].Platform != "linux/arm/v7" || l.Digest != headDigest(t, ref) {
		t.Errorf("json with --platform linux/arm/v7 (%v):\n%s", err, out)
	}
	// raw: the child's manifest, byte for byte.
	out, _, err = run(t, "inspect", "--platform", "linux/arm64", "--format", "raw", ref)
	if err != nil || sha256Of(out) != child["linux/arm64"] {
		t.Errorf("raw with --platform linux/arm64 (%v): sha256 %s, want %s", err, sha256Of(out), child["linux/arm64"])
	}
}

func TestInspectPlatformNotListed(t *testing.T) {
	host, _ := indexOf(t)
	out, _, err := run(t, "inspect", "--platform", "linux/s390x", "--format", "digest", host+"/app:1.4")
	want := host + "/app:1.4 has no linux/s390x: it has linux/amd64, linux/arm64, linux/arm/v7"
	if err == nil || err.Error() != want || out != "" {
		t.Errorf("err = %v, stdout %q; want %q and nothing", err, out, want)
	}
	if err != nil && exitCode(err) != exitFailed {
		t.Errorf("exit %d, want 1", exitCode(err))
	}
	// A single image: --platform must agree with its config.
	out, _, err = run(t, "inspect", "--platform", "linux/arm64", "--format", "digest", host+"/app:arm64")
	if err != nil || out != headDigest(t, host+"/app:arm64")+"\n" {
		t.Errorf("single image of its own platform: %q, %v", out, err)
	}
	_, _, err = run(t, "inspect", "--platform", "linux/amd64", host+"/app:arm64")
	if err == nil || !strings.Contains(err.Error(), "is a single image for linux/arm64, not linux/amd64") {
		t.Errorf("single image of another platform: err = %v", err)
	}
}

func TestInspectFormatTemplate(t *testing.T) {
	host, child := indexOf(t)
	ref := host + "/app:1.4"
	digest := headDigest(t, ref)
	cases := []struct{ format, want string }{
		{"{{.Digest}}", digest + "\n"},
		{`{{range .Children}}{{.Platform}} {{.Digest}}{{"\n"}}{{end}}`,
			"linux/amd64 " + child["linux/amd64"] + "\nlinux/arm64 " + child["linux/arm64"] + "\nlinux/arm/v7 " + child["linux/arm/v7"] + "\n"},
		{"{{.Index}} {{.MediaType}} {{len .Children}}", "true application/vnd.docker.distribution.manifest.list.v2+json 3\n"},
		{`{{range .Children}}{{if eq .Platform "linux/arm64"}}{{.Digest}}{{end}}{{end}}`, child["linux/arm64"] + "\n"},
	}
	for _, c := range cases {
		out, _, err := run(t, "inspect", "--format", c.format, ref)
		if err != nil || out != c.want {
			t.Errorf("--format %s: %v\n got %q\nwant %q", c.format, err, out, c.want)
		}
	}
	raw, _, err := run(t, "inspect", "--format", "raw", ref)
	if err != nil {
		t.Fatal(err)
	}
	if out, _, err := run(t, "inspect", "--format", `{{printf "%s" .Raw}}`, ref); err != nil || out != raw+"\n" {
		t.Errorf(`{{printf "%%s" .Raw}}: %v: %q`, err, out)
	}
	out, _, err := run(t, "inspect", "--format", "{{json .}}", ref)
	var l struct {
		Ref      string            `json:"ref"`
		Digest   string            `json:"digest"`
		Children []json.RawMessage `json:"manifests"`
	}
	if err != nil || json.Unmarshal([]byte(out), &l) != nil || l.Digest != digest || len(l.Children) != 3 || l.Ref != ref {
		t.Errorf("{{json .}} (%v):\n%s", err, out)
	}
	// With --platform, the template sees only that child.
	out, _, err = run(t, "inspect", "--platform", "linux/arm64", "--format", "{{range .Children}}{{.Digest}}{{end}}", ref)
	if err != nil || out != child["linux/arm64"]+"\n" {
		t.Errorf("template with --platform: %q, %v", out, err)
	}
	// A field that does not exist: one line, nothing on stdout.
	out, _, err = run(t, "inspect", "--format", "{{.Nope}}", ref)
	if err == nil || !strings.Contains(err.Error(), "can't evaluate field Nope") || out != "" {
		t.Errorf("unknown field: err = %v, stdout %q", err, out)
	}
}

func TestInspectRefusesBadFormatAndPlatformBeforeDialling(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadHost := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xml"}, `invalid --format "xml"`},
		{[]string{"--format", "{{.Digest"}, "invalid --format template"},
		{[]string{"--format", "{{nofunc .}}"}, `function "nofunc" not defined`},
		{[]string{"--platform", "linux/amd65"}, `invalid --platform: invalid platform "linux/amd65": unknown architecture`},
		{[]string{"--platform", "linux/amd64,linux/arm64"}, "invalid --platform"},
	}
	for _, c := range cases {
		out, _, err := run(t, append(append([]string{"inspect"}, c.args...), deadHost+"/app:1")...)
		if err == nil || !strings.Contains(err.Error(), c.want) || out != "" {
			t.Errorf("%v: err = %v, stdout %q; want %q", c.args, err, out, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%v: dialled before refusing: %v", c.args, err)
		}
	}
}
