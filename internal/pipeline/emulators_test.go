package pipeline

import (
	"strings"
	"testing"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestInstallerFor(t *testing.T) {
	for addr, want := range map[string]string{
		"docker": ViaDocker, "docker://": ViaDocker, "docker+unix:///var/run/docker.sock": ViaDocker, "docker-container://buildkitd": ViaDocker,
		"unix:///run/buildkit/buildkitd.sock": ViaHost, "tcp://bk:1234": ViaHost, "": ViaHost,
	} {
		if got := InstallerFor(addr); got != want {
			t.Errorf("InstallerFor(%q) = %s, want %s", addr, got, want)
		}
	}
}

func TestMissingPlatformsErrorNamesRemedy(t *testing.T) {
	e := &MissingPlatformsError{Builder: "unix:///bk.sock",
		Missing: []ocispec.Platform{platforms.MustParse("linux/s390x"), platforms.MustParse("linux/arm/v7"), platforms.MustParse("linux/arm/v6")},
		Have:    []ocispec.Platform{platforms.MustParse("linux/amd64")}}
	want := "builder unix:///bk.sock cannot run linux/s390x, linux/arm/v7, linux/arm/v6 (it runs linux/amd64): register QEMU handlers on the builder's host with `sudo mab emulation install arm s390x`, or pass --install-emulators"
	if e.Error() != want {
		t.Errorf("error\n got %s\nwant %s", e.Error(), want)
	}
	e.Broken = "riscv64 program: exec format error"
	if !strings.Contains(e.Error(), "lists linux/s390x") || !strings.Contains(e.Error(), "exec format error") {
		t.Errorf("stale list error: %s", e.Error())
	}
}
