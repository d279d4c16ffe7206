package builder

import (
	"errors"
	"testing"

	"github.com/mab-build/mab/internal/platform"
)

func TestParseNodesKeepsOrderAndLetsFlagsWin(t *testing.T) {
	got, err := ParseNodes([]string{"linux/aarch64=tcp://arm:1234", "linux/riscv64=tcp://rv:1"}, "linux/arm/v7=ssh://pi@rpi; linux/arm64=tcp://other:1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"linux/arm/v7=ssh://pi@rpi", "linux/arm64=tcp://arm:1234", "linux/riscv64=tcp://rv:1"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, n := range got {
		if s := platform.Format(n.Platform) + "=" + n.Address; s != want[i] {
			t.Errorf("node %d = %s, want %s", i, s, want[i])
		}
	}
}

func TestParseNodesRefusesBadPairs(t *testing.T) {
	for _, c := range []struct {
		flags []string
		env   string
	}{
		{[]string{"linux/arm64"}, ""},
		{[]string{"linux/=tcp://x"}, ""},
		{[]string{"linux/amd65=tcp://x"}, ""},
		{[]string{"linux/arm64=a", "linux/aarch64=b"}, ""},
		{nil, "linux/arm64=a linux/arm64=b"},
		{nil, "linux/sparc99=tcp://x"},
		{nil, "novalue"},
	} {
		if _, err := ParseNodes(c.flags, c.env); !errors.Is(err, ErrInvalidNode) {
			t.Errorf("ParseNodes(%v, %q): err = %v, want ErrInvalidNode", c.flags, c.env, err)
		}
	}
}

func TestKernelOf(t *testing.T) {
	for addr, want := range map[string]Kernel{
		"docker": KernelDocker, "docker://": KernelDocker, "docker+unix:///var/run/docker.sock": KernelDocker, "docker-container://buildkitd": KernelDocker,
		"unix:///run/buildkit/buildkitd.sock": KernelLocal, "tcp://bk:1234": KernelRemote, "ssh://u@h": KernelRemote, "kube-pod://bk": KernelRemote,
	} {
		if got := KernelOf(addr); got != want {
			t.Errorf("KernelOf(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestKnownListsEachEndpointOnce(t *testing.T) {
	env := map[string]string{EnvHost: DefaultAddress, EnvNodes: "linux/arm64=tcp://arm:1 linux/arm/v7=tcp://arm:1"}
	got, err := Known("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{DefaultAddress, "docker", LocalAddress(), "tcp://arm:1"}
	if len(got) != len(want) {
		t.Fatalf("Known = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Known[%d] = %s, want %s", i, got[i], want[i])
		}
	}
}
