package main

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestInspectEscapesRegistryText: a config whose os holds escape
// sequences is shown escaped by the table, and --verify's error (the
// index lists it as linux/amd64) shows it escaped too.
func TestInspectEscapesRegistryText(t *testing.T) {
	evil := v1.Platform{OS: "linux\x1b]0;pwned\a\x1b[2J", Architecture: "amd64"}
	host := registryWith(t, evil)
	img, err := remote.Image(mustTag(t, host+"/app:amd64"))
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &amd64}})
	if err := remote.WriteIndex(mustTag(t, host+"/app:1.4"), idx); err != nil {
		t.Fatal(err)
	}
	out, _, err := run(t, "inspect", host+"/app:amd64")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out, "\x1b\a") || !strings.Contains(out, `linux\x1b]0;pwned\a\x1b[2J/amd64`) {
		t.Errorf("table shows %q", out)
	}
	_, _, err = run(t, "inspect", "--verify", host+"/app:1.4")
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\a") || !strings.Contains(err.Error(), `\x1b`) {
		t.Errorf("--verify: err = %q, want the mismatch with the escapes shown escaped", err)
	}
}

func TestInsecureRegistryFlag(t *testing.T) {
	for _, bad := range []string{"", "http://reg.local", "reg.local/path", "user@reg.local", "reg.local:port"} {
		_, _, err := run(t, "inspect", "--insecure-registry", bad, "reg.local/app:1")
		if err == nil || !strings.Contains(err.Error(), "invalid --insecure-registry") {
			t.Errorf("--insecure-registry %q: err = %v", bad, err)
		}
	}
	f := plainHTTPFlags{hosts: []string{"10.0.0.5:5000", "reg.local"}}
	for ref, insecure := range map[string]bool{
		"10.0.0.5:5000/app:1":          true,
		"10.0.0.5:6000/app:1":          false,
		"reg.local:81/app:1=linux/arm": true,
		"registry.example.com/app:1":   false,
	} {
		got := len(f.nameOptions(ref)) > 0
		if got != insecure {
			t.Errorf("nameOptions(%q) insecure = %v, want %v", ref, got, insecure)
		}
	}
}
