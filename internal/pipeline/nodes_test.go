package pipeline

import (
	"testing"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseNodes(t *testing.T) {
	got, err := parseNodes([]string{"linux/aarch64=tcp://arm:1234"}, "linux/arm/v7=ssh://pi@rpi; linux/arm64=tcp://other:1")
	if err != nil {
		t.Fatal(err)
	}
	if got["linux/arm64"] != "tcp://arm:1234" {
		t.Errorf("the flag must win over MAB_NODES: %v", got)
	}
	if got["linux/arm/v7"] != "ssh://pi@rpi" {
		t.Errorf("MAB_NODES entry lost: %v", got)
	}
	for _, bad := range [][]string{{"linux/arm64"}, {"linux/=tcp://x"}, {"linux/arm64=a", "linux/arm64=b"}} {
		if _, err := parseNodes(bad, ""); err == nil {
			t.Errorf("parseNodes(%v) accepted", bad)
		}
	}
}

func TestNativeTo(t *testing.T) {
	amd64Worker := []ocispec.Platform{platforms.MustParse("linux/amd64"), platforms.MustParse("linux/amd64/v2"), platforms.MustParse("linux/arm64")}
	for p, want := range map[string]bool{"linux/amd64": true, "linux/386": true, "linux/arm64": false, "linux/arm/v7": false, "windows/amd64": false} {
		if got := nativeTo(amd64Worker, platforms.MustParse(p)); got != want {
			t.Errorf("nativeTo(amd64 worker, %s) = %v, want %v", p, got, want)
		}
	}
	if !supports(amd64Worker, platforms.MustParse("linux/arm64")) || supports(amd64Worker, platforms.MustParse("linux/s390x")) {
		t.Error("supports disagrees with the worker's list")
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
