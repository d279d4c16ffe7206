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
		{[]string{"linux/arm64=tcp://a:1", "linux/aarch64=tcp://a:1"}, ""},
		{nil, "linux/arm64=a linux/arm64=a"},
		{[]string{""}, ""},
		{[]string{" "}, ""},
		{[]string{"linux/arm64="}, ""},
		{nil, "linux/sparc99=tcp://x"},
		{nil, "novalue"},
	} {
		if _, err := ParseNodes(c.flags, c.env); !errors.Is(err, ErrInvalidNode) {
			t.Errorf("ParseNodes(%v, %q): err = %v, want ErrInvalidNode", c.flags, c.env, err)
		}
	}
}

// TestParseNodesKeepsRepeatsAsCandidates: a platform given several times
// has several nodes, in the order given; flags replace the environment's
// nodes of the platforms they name, and keep the others.
func TestParseNodesKeepsRepeatsAsCandidates(t *testing.T) {
	got, err := ParseNodes([]string{"linux/arm64=tcp://a:1", "linux/aarch64=tcp://b:1", "linux/arm64=tcp://c:1,cacert=ca.pem"},
		"linux/arm64=tcp://env:1;;linux/arm/v7=tcp://pi1:1;linux/arm/v7=tcp://pi2:1;")
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, n := range got {
		s = append(s, platform.Format(n.Platform)+"="+n.Address)
	}
	want := "linux/arm/v7=tcp://pi1:1 linux/arm/v7=tcp://pi2:1 linux/arm64=tcp://a:1 linux/arm64=tcp://b:1 linux/arm64=tcp://c:1"
	if strings.Join(s, " ") != want {
		t.Errorf("nodes %v\nwant  %s", s, want)
	}
	arm := Candidates(got, mustPlatform(t, "linux/arm64"))
	if len(arm) != 3 || arm[0].Address != "tcp://a:1" || arm[2].TLS.CACert != "ca.pem" {
		t.Errorf("Candidates(linux/arm64) = %+v", arm)
	}
	if c := Candidates(got, mustPlatform(t, "linux/riscv64")); len(c) != 0 {
		t.Errorf("Candidates(linux/riscv64) = %+v, want none", c)
	}
}

// TestParseNodesRefusesEmptyAndDuplicateEntries: one line each, naming
// what is wrong.
func TestParseNodesRefusesEmptyAndDuplicateEntries(t *testing.T) {
	for _, c := range []struct {
		flags []string
		env   string
		want  string
	}{
		{[]string{""}, "", "an empty value"},
		{[]string{"linux/arm64="}, "", "want PLATFORM=ENDPOINT"},
		{[]string{"linux/arm64=tcp://a:1", "linux/aarch64=tcp://a:1"}, "", "linux/arm64=tcp://a:1 is given twice"},
		{nil, "linux/arm64=unix:///x;linux/arm64=unix:///x", "in $MAB_NODES: linux/arm64=unix:///x is given twice"},
	} {
		_, err := ParseNodes(c.flags, c.env)
		if !errors.Is(err, ErrInvalidNode) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseNodes(%q, %q): err = %v, want one line with %q", c.flags, c.env, err, c.want)
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
	want := "unknown scheme bogus (want unix, tcp, ssh, docker-container, kube-pod, podman-container, nerdctl-container, docker, buildx)"
	if !errors.Is(err, ErrAddress) || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to contain %q", err, want)
	}
	if _, err := Dial(context.Background(), "bogus://x", TLS{}); !errors.Is(err, ErrAddress) || errors.Is(err, ErrUnreachable) {
		t.Errorf("Dial(bogus://x): %v", err)
	}
	for _, ok := range []string{"docker", "docker+unix:///var/run/docker.sock", "tcp://h:1", "unix:///s", "ssh://u@h", "kube-pod://p?namespace=n", "docker-container://bk", "podman-container://bk", "nerdctl-container://bk", "buildx://ci", "buildx://", "buildx://My_builder-2.x"} {
		if err := CheckAddress(ok); err != nil {
			t.Errorf("CheckAddress(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"h:1234", "tcp://", "docker://", "bogus://x", "", "buildx://2ci", "buildx://ci/x", "buildx://../x"} {
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
