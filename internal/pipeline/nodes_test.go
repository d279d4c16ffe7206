package pipeline

import (
	"strings"
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

func TestPreflightNamesTheRemedy(t *testing.T) {
	n := &node{addr: "unix:///b.sock", have: []ocispec.Platform{platforms.MustParse("linux/amd64")}, targets: []int{0, 1, 2}}
	targets := []Target{{Platform: platforms.MustParse("linux/amd64")}, {Platform: platforms.MustParse("linux/arm/v7")}, {Platform: platforms.MustParse("linux/arm/v6")}}
	err := preflight([]*node{n}, targets)
	if err == nil {
		t.Fatal("preflight passed although the builder runs only linux/amd64")
	}
	for _, want := range []string{"unix:///b.sock cannot run linux/arm/v7, linux/arm/v6", "`sudo mab emulation install arm`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %q, want it to contain %q", err, want)
		}
	}
	n.have = append(n.have, platforms.MustParse("linux/arm/v7"), platforms.MustParse("linux/arm/v6"))
	if err := preflight([]*node{n}, targets); err != nil {
		t.Errorf("preflight with every platform: %v", err)
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
