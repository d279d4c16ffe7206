package pipeline

import (
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/mab-build/mab/emulation"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestNewInstallerServesTheBuildersKernel(t *testing.T) {
	opt := EmulatorOptions{Image: "local/binfmt:1", QEMUDir: "/opt/qemu", Force: true, BinfmtRoot: "/b"}
	host := emulation.Host{Root: "/b", QEMUDir: "/opt/qemu", Force: true}
	docker := emulation.Docker{Image: "local/binfmt:1"}
	cases := []struct {
		via, addr string
		want      emulation.Installer
	}{
		{"", "docker", docker},
		{ViaAuto, "docker://", docker},
		{ViaAuto, "docker+unix:///var/run/docker.sock", emulation.Docker{Host: "unix:///var/run/docker.sock", Image: "local/binfmt:1"}},
		{ViaDocker, "docker+tcp://10.0.0.5:2376", emulation.Docker{Host: "tcp://10.0.0.5:2376", Image: "local/binfmt:1"}},
		{ViaAuto, "docker-container://buildkitd", docker},
		{ViaAuto, "unix:///run/buildkit/buildkitd.sock", host},
		{ViaAuto, "tcp://bk:1234", host},
		{"", "", host},
		{ViaHost, "docker", host},
		{ViaDocker, "unix:///run/buildkit/buildkitd.sock", docker},
	}
	for _, c := range cases {
		got, err := NewInstaller(c.via, c.addr, opt)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("NewInstaller(%q, %q) = %#v, %v; want %#v", c.via, c.addr, got, err, c.want)
		}
	}
	if _, err := NewInstaller("ssh", "", opt); err == nil || err.Error() != `invalid --via "ssh": want auto, host or docker` {
		t.Errorf("via ssh: %v", err)
	}
}

func TestPrintOutcomes(t *testing.T) {
	var b strings.Builder
	PrintOutcomes(&b, emulation.Host{}, []emulation.Outcome{
		{Arch: "amd64", Action: emulation.ActionNative},
		{Arch: "riscv64", Action: emulation.ActionInstalled, Entry: "qemu-riscv64", Interpreter: "/usr/bin/qemu-riscv64-static"},
	})
	PrintOutcomes(&b, emulation.Docker{}, []emulation.Outcome{{Arch: "arm64", Action: emulation.ActionAlreadyInstalled, Interpreter: "(in img)"}})
	PrintOutcomes(&b, emulation.Host{}, []emulation.Outcome{{Arch: "riscv64", Action: emulation.ActionRemoved, Entry: "qemu-riscv64"}})
	PrintOutcomes(&b, emulation.Docker{}, nil)
	want := "amd64    native (host) \n" +
		"riscv64  installed (host) /usr/bin/qemu-riscv64-static\n" +
		"arm64    already installed (docker) (in img)\n" +
		"nothing changed: every handler was already installed\n" +
		"riscv64  removed qemu-riscv64 (host)\n" +
		"nothing changed: no handler to remove\n"
	if b.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
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
