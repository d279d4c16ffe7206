package builder

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
		if got[i].Address != want[i] {
			t.Errorf("Known[%d] = %s, want %s", i, got[i].Address, want[i])
		}
	}
}

func TestParseNodesReadsPerNodeTLS(t *testing.T) {
	got, err := ParseNodes([]string{"linux/arm64=tcp://arm:1234,cacert=ca.pem,cert=c.pem,key=k.pem,servername=arm"},
		"linux/riscv64=ssh://me@rv linux/s390x=tcp://z:1,cacert=z-ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	want := []Node{
		{Platform: mustPlatform(t, "linux/riscv64"), Address: "ssh://me@rv"},
		{Platform: mustPlatform(t, "linux/s390x"), Address: "tcp://z:1", TLS: TLS{CACert: "z-ca.pem"}},
		{Platform: mustPlatform(t, "linux/arm64"), Address: "tcp://arm:1234", TLS: TLS{CACert: "ca.pem", Cert: "c.pem", Key: "k.pem", ServerName: "arm"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].Address != want[i].Address || got[i].TLS != want[i].TLS || !platform.Same(got[i].Platform, want[i].Platform) {
			t.Errorf("node %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{
		"linux/arm64=ssh://me@arm,cacert=ca.pem", // TLS on ssh://
		"linux/arm64=tcp://arm:1,cert=c.pem",     // cert without key
		"linux/arm64=tcp://arm:1,color=red",      // unknown key
		"linux/arm64=tcp://arm:1,cacert",         // not KEY=VALUE
		"linux/arm64=,cacert=ca.pem",             // no endpoint
	} {
		if _, err := ParseNodes([]string{bad}, ""); !errors.Is(err, ErrInvalidNode) {
			t.Errorf("ParseNodes(%q): err = %v, want ErrInvalidNode", bad, err)
		}
	}
	if _, err := ParseNodes([]string{"linux/arm64=ssh://me@arm,cacert=ca.pem"}, ""); !errors.Is(err, ErrTLS) {
		t.Errorf("TLS on ssh://: err = %v, want ErrTLS too", err)
	}
}

func TestCheckAddressNamesUnknownScheme(t *testing.T) {
	err := CheckAddress("bogus://x")
	want := "unknown scheme bogus (want unix, tcp, ssh, docker-container, kube-pod, podman-container, nerdctl-container, docker)"
	if !errors.Is(err, ErrAddress) || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %q", err, want)
	}
	if _, err := Dial(context.Background(), "bogus://x", TLS{}); !errors.Is(err, ErrAddress) || errors.Is(err, ErrUnreachable) {
		t.Errorf("Dial(bogus://x): %v", err)
	}
	for _, ok := range []string{"docker", "docker+unix:///var/run/docker.sock", "tcp://h:1", "unix:///s", "ssh://u@h", "kube-pod://p?namespace=n", "docker-container://bk", "podman-container://bk", "nerdctl-container://bk"} {
		if err := CheckAddress(ok); err != nil {
			t.Errorf("CheckAddress(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"h:1234", "tcp://", "docker://", "bogus://x", ""} {
		if err := CheckAddress(bad); !errors.Is(err, ErrAddress) {
			t.Errorf("CheckAddress(%q) = %v, want ErrAddress", bad, err)
		}
	}
}

func TestPlaintext(t *testing.T) {
	for addr, want := range map[string]bool{
		"tcp://buildkit.internal:1234": true, "tcp://10.0.0.5:1234": true, "tcp://[2001:db8::1]:1234": true,
		"tcp://127.0.0.1:1234": false, "tcp://127.9.9.9:1234": false, "tcp://[::1]:1234": false, "tcp://localhost:1234": false,
		"unix:///run/buildkit/buildkitd.sock": false, "ssh://me@far": false, "docker": false,
	} {
		if got := Plaintext(addr, TLS{}); got != want {
			t.Errorf("Plaintext(%q) = %v, want %v", addr, got, want)
		}
	}
	if Plaintext("tcp://buildkit.internal:1234", TLS{CACert: "ca.pem"}) {
		t.Error("a TLS endpoint counted as plain")
	}
}

// TestDialChecksTLSPerEndpoint: TLS for a non-tcp:// endpoint, or a
// certificate without its key, is refused before dialling.
func TestDialChecksTLSPerEndpoint(t *testing.T) {
	for addr, tls := range map[string]TLS{
		"ssh://me@host": {CACert: "ca.pem"},
		"tcp://h:1":     {Cert: "c.pem"},
		"tcp://h:2":     {Key: "k.pem"},
	} {
		if _, err := Dial(context.Background(), addr, tls); !errors.Is(err, ErrTLS) {
			t.Errorf("Dial(%s, %+v): %v, want ErrTLS", addr, tls, err)
		}
	}
}

func mustPlatform(t *testing.T, s string) ocispec.Platform {
	t.Helper()
	p, err := platform.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
