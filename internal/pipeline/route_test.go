package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
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

// routed maps each target's platform to the address of the builder route
// gave it.
func routed(p *Plan, nodes []*node) map[string]string {
	out := map[string]string{}
	for _, n := range nodes {
		for _, i := range n.targets {
			out[platform.Format(p.Targets[i].Platform)] = n.client.Address()
		}
	}
	return out
}

func checkRouted(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s routed to %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

// TestRouteFailsOverToNextNode: the first node of a platform is down; the
// second builds it, and one line says so.
func TestRouteFailsOverToNextNode(t *testing.T) {
	def := amd64Host("fake://default")
	arm := &fakeBuilder{addr: "tcp://127.0.0.1:2", have: plats("linux/arm64")}
	w := newWorld(t, def, arm)
	p := w.plan(func(o *Options) {
		o.Platforms = []string{"linux/amd64,linux/arm64"}
		o.Nodes = []string{"linux/arm64=tcp://127.0.0.1:1", "linux/arm64=" + arm.addr}
	})
	var stderr bytes.Buffer
	nodes, err := w.runner().route(context.Background(), p, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	checkRouted(t, routed(p, nodes), map[string]string{"linux/amd64": def.addr, "linux/arm64": arm.addr})
	want := "node tcp://127.0.0.1:1 for linux/arm64 is unreachable (no fake builder at tcp://127.0.0.1:1); using tcp://127.0.0.1:2\n"
	if stderr.String() != want {
		t.Errorf("stderr %q\nwant   %q", stderr.String(), want)
	}
}

// TestRunFailsWhenEveryNodeOfAPlatformIsDown: one line naming the platform
// and each endpoint tried, nothing built, nothing pushed.
func TestRunFailsWhenEveryNodeOfAPlatformIsDown(t *testing.T) {
	def := amd64Host("fake://default")
	w := newWorld(t, def)
	p := w.plan(func(o *Options) {
		o.Platforms = []string{"linux/amd64,linux/arm64"}
		o.Nodes = []string{"linux/arm64=fake://a", "linux/arm64=fake://b"}
	})
	var stderr bytes.Buffer
	_, err := w.runner().Run(context.Background(), p, &stderr)
	want := "no node for linux/arm64 answers, tried fake://a (no fake builder at fake://a), fake://b (no fake builder at fake://b)"
	var down *UnreachableError
	if !errors.Is(err, builder.ErrUnreachable) || !errors.As(err, &down) || err.Error() != want {
		t.Fatalf("err = %v\nwant  %s", err, want)
	}
	if len(def.built) != 0 || w.head(w.host+"/app:1.4-amd64") != "" || w.head(w.host+"/app:1.4") != "" {
		t.Errorf("built %v or pushed although a platform had no builder", def.built)
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// TestRouteNeedsNoDefaultBuilderWhenNodesCoverEveryPlatform: the default
// builder is down (or none is named and discovery would start one); the
// nodes build every platform, as buildx needs only the nodes it uses.
func TestRouteNeedsNoDefaultBuilderWhenNodesCoverEveryPlatform(t *testing.T) {
	amd := &fakeBuilder{addr: "fake://amd", have: plats("linux/amd64")}
	arm := &fakeBuilder{addr: "fake://arm", have: plats("linux/arm64")}
	w := newWorld(t, amd, arm)
	for _, def := range []string{"fake://down", ""} {
		p := w.plan(func(o *Options) {
			o.Builder = def
			o.Platforms = []string{"linux/amd64,linux/arm64"}
			o.Nodes = []string{"linux/amd64=fake://amd", "linux/arm64=fake://arm"}
		})
		r, dialled := tlsRecorder(w.runner())
		r.Discover = func(context.Context) (string, error) {
			t.Error("discovery ran although the nodes cover every platform")
			return "", errors.New("no discovery here")
		}
		nodes, err := r.route(context.Background(), p, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("default %q: %v", def, err)
		}
		checkRouted(t, routed(p, nodes), map[string]string{"linux/amd64": amd.addr, "linux/arm64": arm.addr})
		if _, ok := dialled["fake://down"]; ok {
			t.Error("the default builder was dialled")
		}
	}
	// A platform without a node needs the default builder: it must answer.
	p := w.plan(func(o *Options) {
		o.Builder = "fake://down"
		o.Platforms = []string{"linux/amd64,linux/arm64,linux/riscv64"}
		o.Nodes = []string{"linux/amd64=fake://amd", "linux/arm64=fake://arm"}
	})
	if _, err := w.runner().route(context.Background(), p, &bytes.Buffer{}); !errors.Is(err, builder.ErrUnreachable) || !strings.Contains(err.Error(), "fake://down") {
		t.Errorf("err = %v, want the default builder unreachable", err)
	}
}

// writeBuildx stores a remote-driver buildx instance NAME whose nodes are
// addr[,platform] strings, in a new $BUILDX_CONFIG.
func writeBuildx(t *testing.T, name string, nodes ...string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("BUILDX_CONFIG", dir)
	type sn struct {
		Name      string
		Endpoint  string
		Platforms []map[string]string
	}
	g := struct {
		Name, Driver string
		Nodes        []sn
	}{Name: name, Driver: "remote"}
	for i, n := range nodes {
		addr, plat, _ := strings.Cut(n, ",")
		s := sn{Name: fmt.Sprintf("%s%d", name, i), Endpoint: addr}
		if plat != "" {
			osName, arch, _ := strings.Cut(plat, "/")
			s.Platforms = []map[string]string{{"os": osName, "architecture": arch}}
		}
		g.Nodes = append(g.Nodes, s)
	}
	data, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "instances"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "instances", name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRouteBuildxInstance: a platform goes to the first answering node
// created for it (a dead one gets its line), one no node was created for
// to the first node when it runs it natively, else to another node that
// does; --node still wins for its platform.
func TestRouteBuildxInstance(t *testing.T) {
	amd := &fakeBuilder{addr: "unix:///amd.sock", have: plats("linux/amd64", "linux/386", "linux/arm64")}
	arm := &fakeBuilder{addr: "unix:///arm.sock", have: plats("linux/arm64", "linux/arm/v7")}
	other := &fakeBuilder{addr: "unix:///other.sock", have: plats("linux/amd64")}
	w := newWorld(t, amd, arm, other)
	writeBuildx(t, "ci", amd.addr, "unix:///dead.sock,linux/arm64", arm.addr+",linux/arm64")
	p := w.plan(func(o *Options) {
		o.Builder = "buildx://ci"
		o.Platforms = []string{"linux/amd64,linux/arm64,linux/arm/v7,linux/386"}
	})
	var stderr bytes.Buffer
	nodes, err := w.runner().route(context.Background(), p, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	checkRouted(t, routed(p, nodes), map[string]string{"linux/amd64": amd.addr, "linux/arm64": arm.addr, "linux/arm/v7": arm.addr, "linux/386": amd.addr})
	if want := "node unix:///dead.sock for linux/arm64 is unreachable (no fake builder at unix:///dead.sock); using unix:///arm.sock\n"; stderr.String() != want {
		t.Errorf("stderr %q\nwant   %q", stderr.String(), want)
	}

	p = w.plan(func(o *Options) {
		o.Builder = "buildx://ci"
		o.Platforms = []string{"linux/amd64,linux/arm64"}
		o.Nodes = []string{"linux/amd64=" + other.addr}
	})
	if nodes, err = w.runner().route(context.Background(), p, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	checkRouted(t, routed(p, nodes), map[string]string{"linux/amd64": other.addr, "linux/arm64": arm.addr})
}

// TestRouteBuildxFirstNodeDown: the first node, the default of an
// instance, is down; the next one that answers takes its place, and when
// no node answers the error names the platform and every node.
func TestRouteBuildxFirstNodeDown(t *testing.T) {
	amd := &fakeBuilder{addr: "unix:///amd.sock", have: plats("linux/amd64")}
	w := newWorld(t, amd)
	writeBuildx(t, "ci", "unix:///dead.sock", amd.addr)
	p := w.plan(func(o *Options) { o.Builder = "buildx://ci"; o.Platforms = []string{"linux/amd64"} })
	var stderr bytes.Buffer
	nodes, err := w.runner().route(context.Background(), p, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	checkRouted(t, routed(p, nodes), map[string]string{"linux/amd64": amd.addr})
	if !strings.HasPrefix(stderr.String(), "node unix:///dead.sock for linux/amd64 is unreachable") {
		t.Errorf("stderr %q", stderr.String())
	}
	writeBuildx(t, "ci", "unix:///dead.sock", "unix:///dead2.sock")
	_, err = w.runner().route(context.Background(), p, &bytes.Buffer{})
	if !errors.Is(err, builder.ErrUnreachable) || !strings.Contains(err.Error(), "no node for linux/amd64 answers, tried unix:///dead.sock (") ||
		!strings.Contains(err.Error(), "unix:///dead2.sock (") {
		t.Errorf("err = %v", err)
	}
	// A builder that is not stored: nothing dialled.
	p = w.plan(func(o *Options) { o.Builder = "buildx://nope" })
	r, dialled := tlsRecorder(w.runner())
	if _, err := r.route(context.Background(), p, &bytes.Buffer{}); !errors.Is(err, builder.ErrBuildx) || len(dialled) != 0 {
		t.Errorf("err = %v, dialled %v", err, dialled)
	}
}

// TestDryRunShowsTheNodeThatAnswered: the chosen node per platform, after
// the line about the one that did not answer; with no builder reached,
// every candidate.
func TestDryRunShowsTheNodeThatAnswered(t *testing.T) {
	def := amd64Host("fake://default")
	arm := &fakeBuilder{addr: "fake://arm2", have: plats("linux/arm64")}
	w := newWorld(t, def, arm)
	p := w.plan(func(o *Options) {
		o.Platforms = []string{"linux/amd64,linux/arm64"}
		o.Nodes = []string{"linux/arm64=fake://arm1", "linux/arm64=fake://arm2"}
	})
	var out bytes.Buffer
	if err := w.runner().DryRun(context.Background(), p, &out); err != nil {
		t.Fatal(err)
	}
	rows := strings.Join(strings.Fields(out.String()), " ")
	if !strings.Contains(out.String(), "node fake://arm1 for linux/arm64 is unreachable") ||
		!strings.Contains(rows, "linux/arm64 "+w.host+"/app:1.4-arm64 fake://arm2 native") {
		t.Errorf("dry run:\n%s", out.String())
	}
	out.Reset()
	w2 := newWorld(t)
	if err := w2.runner().DryRun(context.Background(), w2.plan(func(o *Options) { o.Nodes = []string{"linux/arm64=fake://arm1", "linux/arm64=fake://arm2"} }), &out); err == nil {
		t.Error("a dry run whose builders do not answer succeeded")
	}
	if rows := strings.Join(strings.Fields(out.String()), " "); !strings.Contains(rows, "linux/arm64 "+w2.host+"/app:1.4-arm64 fake://arm1 or fake://arm2 unknown") {
		t.Errorf("dry run without builders:\n%s", out.String())
	}
}
