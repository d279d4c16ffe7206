package pipeline

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mab-build/mab/builder"
)

// tlsRecorder wraps the world's Dial and records the TLS options each
// endpoint was dialled with.
func tlsRecorder(r Runner) (Runner, map[string]builder.TLS) {
	got := map[string]builder.TLS{}
	dial := r.Dial
	r.Dial = func(ctx context.Context, addr string, tls builder.TLS) (Builder, error) {
		got[addr] = tls
		return dial(ctx, addr, tls)
	}
	return r, got
}

// TestRouteAppliesTLSFlagsOnlyToTCP: the command line's TLS options go to
// the tcp:// default builder, not to an ssh:// node; a node's own TLS
// options go to it.
func TestRouteAppliesTLSFlagsOnlyToTCP(t *testing.T) {
	def := amd64Host("tcp://buildkit.internal:1234")
	arm := &fakeBuilder{addr: "ssh://me@arm", have: plats("linux/arm64")}
	rv := &fakeBuilder{addr: "tcp://rv.internal:1234", have: plats("linux/riscv64")}
	w := newWorld(t, def, arm, rv)
	flags := builder.TLS{CACert: "ca.pem", Cert: "c.pem", Key: "k.pem"}
	p := w.plan(func(o *Options) {
		o.Builder = def.addr
		o.TLS = flags
		o.Platforms = []string{"linux/amd64,linux/arm64,linux/riscv64"}
		o.Nodes = []string{"linux/arm64=" + arm.addr, "linux/riscv64=" + rv.addr + ",cacert=rv-ca.pem,servername=rv"}
	})
	r, got := tlsRecorder(w.runner())
	var stderr bytes.Buffer
	nodes, err := r.route(context.Background(), p, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 {
		t.Fatalf("%d builders in use, want 3", len(nodes))
	}
	want := map[string]builder.TLS{def.addr: flags, arm.addr: {}, rv.addr: {CACert: "rv-ca.pem", ServerName: "rv"}}
	for addr, tls := range want {
		if got[addr] != tls {
			t.Errorf("%s dialled with %+v, want %+v", addr, got[addr], tls)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("warnings for TLS builders:\n%s", stderr.String())
	}
}

// TestRouteRefusesTLSFlagsWithoutTCPEndpoint: TLS options that apply to
// no endpoint are an error, before anything is dialled.
func TestRouteRefusesTLSFlagsWithoutTCPEndpoint(t *testing.T) {
	w := newWorld(t, amd64Host("unix:///bk.sock"))
	p := w.plan(func(o *Options) { o.Builder = "unix:///bk.sock"; o.TLS = builder.TLS{CACert: "ca.pem"} })
	r, got := tlsRecorder(w.runner())
	_, err := r.route(context.Background(), p, &bytes.Buffer{})
	if !errors.Is(err, builder.ErrTLS) || len(got) != 0 {
		t.Errorf("err = %v, dialled %v; want ErrTLS before dialling", err, got)
	}
}

// TestRouteWarnsOncePerPlainTCPBuilder: a tcp:// builder without TLS off
// loopback gets one warning line, however many platforms it builds; one
// on loopback gets none.
func TestRouteWarnsOncePerPlainTCPBuilder(t *testing.T) {
	def := amd64Host("tcp://buildkit.internal:1234")
	local := &fakeBuilder{addr: "tcp://127.0.0.1:1234", have: plats("linux/arm64", "linux/arm/v7")}
	w := newWorld(t, def, local)
	p := w.plan(func(o *Options) {
		o.Builder = def.addr
		o.Nodes = []string{"linux/arm64=" + local.addr, "linux/arm/v7=" + local.addr}
	})
	var stderr bytes.Buffer
	if _, err := w.runner().route(context.Background(), p, &stderr); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "warning: builder tcp://buildkit.internal:1234 is reached over plain TCP without TLS") ||
		!strings.Contains(lines[0], "secret values, the SSH agent and registry credentials") {
		t.Errorf("warnings:\n%s", stderr.String())
	}
}

// TestRouteSaysWhenDiscoveryStartedBuildkitd: one line with the pid, the
// state folder, that it keeps running and how to stop it.
func TestRouteSaysWhenDiscoveryStartedBuildkitd(t *testing.T) {
	w := newWorld(t, amd64Host("fake://discovered"))
	r := w.runner()
	r.Discover = func(ctx context.Context) (string, error) {
		if tr := builder.ContextDiscoverTrace(ctx); tr != nil && tr.StartedLocal != nil {
			tr.StartedLocal(builder.LocalDaemon{PID: 4242, StateDir: "/root/.local/state/mab"})
		}
		return "fake://discovered", nil
	}
	var stderr bytes.Buffer
	if _, err := r.route(context.Background(), w.plan(func(o *Options) { o.Builder = "" }), &stderr); err != nil {
		t.Fatal(err)
	}
	want := "started mab's own buildkitd (pid 4242, state in /root/.local/state/mab); it keeps running for the next builds: `mab builder stop` ends it\n"
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}
