package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/platforms"
)

func TestParseSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAB_TEST_SECRET", "v")
	for in, want := range map[string]Secret{
		"id=tok,src=" + file:                  {ID: "tok", FilePath: file},
		"id=tok,source=" + file:               {ID: "tok", FilePath: file},
		"id=tok,env=MAB_TEST_SECRET":          {ID: "tok", Env: "MAB_TEST_SECRET"},
		"type=env,id=tok,src=MAB_TEST_SECRET": {ID: "tok", Env: "MAB_TEST_SECRET"},
	} {
		got, err := ParseSecret(in)
		if err != nil || got != want {
			t.Errorf("ParseSecret(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"src=" + file, "id=x", "id=x,src=/nonexistent", "id=x,env=MAB_UNSET_VARIABLE", "id=x,color=red", "id"} {
		if _, err := ParseSecret(in); err == nil {
			t.Errorf("ParseSecret(%q) accepted", in)
		}
	}
}

func TestParseCacheAndExpandArch(t *testing.T) {
	c, err := ParseCacheFrom("reg/app:cache-{arch}")
	if err != nil || c.Type != "registry" || c.Attrs["ref"] != "reg/app:cache-{arch}" {
		t.Fatalf("bare ref = %+v, %v", c, err)
	}
	c, err = ParseCacheTo("type=registry,ref=reg/app:cache-{arch},mode=max")
	if err != nil || c.Attrs["mode"] != "max" {
		t.Fatalf("csv = %+v, %v", c, err)
	}
	got := expandCache([]Cache{c}, "armv7", true)
	if got[0].Attrs["ref"] != "reg/app:cache-armv7" || got[0].Attrs["registry.insecure"] != "true" {
		t.Errorf("expanded = %+v", got[0])
	}
	if c.Attrs["ref"] != "reg/app:cache-{arch}" {
		t.Error("expandCache changed its input")
	}
	for _, in := range []string{"type=local,dest=/tmp/c", "type=registry", "type=registry,oops", "type=registry,ref=", "", " ", "\t", "type=registry,ref= ", "mode=max"} {
		if _, err := ParseCacheFrom(in); err == nil {
			t.Errorf("ParseCacheFrom(%q) accepted", in)
		}
	}
	to, err := ParseCacheTo("ref=reg/app:c")
	if err != nil || to.Type != "registry" || to.Attrs["ref"] != "reg/app:c" || to.Attrs["mode"] != "min" {
		t.Errorf("ParseCacheTo(ref=…) = %+v, %v; want type registry, mode min", to, err)
	}
}

func TestParseSSH(t *testing.T) {
	got, err := ParseSSH("git=/tmp/agent.sock,/tmp/key")
	if err != nil || got.ID != "git" || strings.Join(got.Paths, " ") != "/tmp/agent.sock /tmp/key" {
		t.Errorf("ParseSSH = %+v, %v", got, err)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	if _, err := ParseSSH("default"); err == nil {
		t.Error("default without SSH_AUTH_SOCK accepted")
	}
	if _, err := ParseSSH("=x"); err == nil {
		t.Error("empty id accepted")
	}
}

func TestFrontendAttrs(t *testing.T) {
	req := Request{
		DockerfileName: "Dockerfile.prod", BuildArgs: map[string]string{"A": "1"}, Target: "final",
		Labels: map[string]string{"team": "edge"}, NoCache: true, Attest: map[string]string{"provenance": "mode=max"},
	}
	tgt := Target{Name: "reg/app:1-arm64"}
	tgt.Platform.OS, tgt.Platform.Architecture = "linux", "arm64"
	attrs := (&Client{}).frontendAttrs(req, tgt)
	want := map[string]string{
		"filename": "Dockerfile.prod", "platform": "linux/arm64", "build-arg:A": "1", "target": "final",
		"label:team": "edge", "no-cache": "", "attest:provenance": "mode=max",
	}
	for k, v := range want {
		if got, ok := attrs[k]; !ok || got != v {
			t.Errorf("attrs[%q] = %q (set %v), want %q", k, got, ok, v)
		}
	}
	if _, ok := attrs["image-resolve-mode"]; ok {
		t.Error("image-resolve-mode set without --pull on a buildkitd")
	}
	if (&Client{docker: &dockerDaemon{}}).frontendAttrs(req, tgt)["image-resolve-mode"] != "pull" {
		t.Error("a Docker daemon's BuildKit must resolve base images from the registry")
	}
}

func TestHelperFailureNamesCommandAndReason(t *testing.T) {
	err := errString(`failed to list workers: Unavailable: connection error: desc = "error reading server preface: command [docker exec -i nope buildctl dial-stdio] has exited with exit status 1, make sure the URL is valid: stderr=Error response from daemon: No such container: nope\n"`)
	cmd, why, ok := helperFailure(err)
	if !ok || cmd != "docker exec -i nope buildctl dial-stdio" || why != "Error response from daemon: No such container: nope" {
		t.Errorf("helperFailure = %q, %q, %v", cmd, why, ok)
	}
	_, why, _ = helperFailure(errString(`command [ssh -p 1 -- h buildctl dial-stdio] has exited: stderr=ssh: connect to host h port 1: Connection refused\r\n"`))
	if why != "ssh: connect to host h port 1: Connection refused" {
		t.Errorf("ssh reason = %q", why)
	}
	if _, _, ok := helperFailure(errString("connection refused")); ok {
		t.Error("a plain dial error taken for a helper failure")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestFrontendAttrsKeepOSVersion: the frontend gets the platform with its
// OS version, in the form containerd's platforms.Parse reads back.
func TestFrontendAttrsKeepOSVersion(t *testing.T) {
	p, err := platforms.Parse("windows(10.0.17763)/amd64")
	if err != nil {
		t.Fatal(err)
	}
	attrs := (&Client{}).frontendAttrs(Request{}, Target{Platform: p})
	back, err := platforms.Parse(attrs["platform"])
	if err != nil || back.OSVersion != "10.0.17763" || back.OS != "windows" || back.Architecture != "amd64" {
		t.Errorf("platform attribute %q is read back as %+v, %v", attrs["platform"], back, err)
	}
}
