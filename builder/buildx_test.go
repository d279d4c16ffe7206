package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// buildxConfig copies testdata/buildx/instances into a new buildx folder,
// @DIR@ in each file replaced by testdata/buildx's absolute path (buildx
// stores absolute TLS paths), and returns the folder.
func buildxConfig(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "buildx"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "instances"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := os.ReadDir(filepath.Join(src, "instances"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(src, "instances", f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(strings.ReplaceAll(string(data), "@DIR@", src))
		if err := os.WriteFile(filepath.Join(dir, "instances", f.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestBuildxDirFollowsBuildxRules(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"BUILDX_CONFIG": "/bx", "DOCKER_CONFIG": "/dc", "HOME": "/h"}, "/bx"},
		{map[string]string{"DOCKER_CONFIG": "/dc", "HOME": "/h"}, "/dc/buildx"},
		{map[string]string{"HOME": "/h"}, "/h/.docker/buildx"},
	} {
		if got, err := BuildxDir(envOf(c.env)); err != nil || got != c.want {
			t.Errorf("BuildxDir(%v) = %q, %v; want %q", c.env, got, err, c.want)
		}
	}
}

// wantNode is a node as a test expects it: address, TLS and platforms.
type wantNode struct {
	addr  string
	tls   TLS
	plats []string
}

func checkNodes(t *testing.T, b *Buildx, want []wantNode) {
	t.Helper()
	if len(b.Nodes) != len(want) {
		t.Fatalf("%d nodes %+v, want %d", len(b.Nodes), b.Nodes, len(want))
	}
	for i, w := range want {
		n := b.Nodes[i]
		var plats []string
		for _, p := range n.Platforms {
			plats = append(plats, platform.Format(p))
		}
		if n.Address != w.addr || n.TLS != w.tls || strings.Join(plats, ",") != strings.Join(w.plats, ",") || n.Down != nil {
			t.Errorf("node %d = %+v, want %+v", i, n, w)
		}
	}
}

// TestReadBuildxRemoteWithTLS: a remote node's endpoint and TLS driver
// options, a unix:// node with the platform it was created for, in the
// order of the file.
func TestReadBuildxRemoteWithTLS(t *testing.T) {
	dir := buildxConfig(t)
	certs, _ := filepath.Abs(filepath.Join("testdata", "buildx", "certs"))
	b, err := ReadBuildx(context.Background(), "buildx://Remote-TLS", envOf(map[string]string{"BUILDX_CONFIG": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "remote-tls" || b.Driver != "remote" || b.File != filepath.Join(dir, "instances", "remote-tls") {
		t.Errorf("read %s (%s) from %s", b.Name, b.Driver, b.File)
	}
	checkNodes(t, b, []wantNode{
		{"tcp://amd.internal:1234", TLS{ServerName: "amd", CACert: certs + "/ca.pem", Cert: certs + "/cert.pem", Key: certs + "/key.pem"}, nil},
		{"unix:///run/arm/buildkitd.sock", TLS{}, []string{"linux/arm64"}},
	})
}

// TestReadBuildxDockerContainer: the container buildx names after the
// node, in the daemon of $DOCKER_HOST, or of the Docker context the node
// names.
func TestReadBuildxDockerContainer(t *testing.T) {
	dir := buildxConfig(t)
	b, err := ReadBuildx(context.Background(), "buildx://containers", envOf(map[string]string{"BUILDX_CONFIG": dir}))
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, b, []wantNode{
		{"docker-container://buildx_buildkit_containers0", TLS{}, nil},
		{"docker-container://buildx_buildkit_remote_ctx?context=arm-box", TLS{}, []string{"linux/arm64", "linux/arm/v7"}},
	})
	// The node's daemon is not the one `docker` reaches: one line that says so.
	_, err = ReadBuildx(context.Background(), "buildx://containers", envOf(map[string]string{"BUILDX_CONFIG": dir, "DOCKER_HOST": "unix:///other.sock"}))
	if !errors.Is(err, ErrBuildx) || !strings.Contains(err.Error(), "node containers0: its container runs in the Docker daemon at unix:///var/run/docker.sock, and `docker` reaches unix:///other.sock") {
		t.Errorf("err = %v", err)
	}
}

func TestReadBuildxDockerDriver(t *testing.T) {
	dir := buildxConfig(t)
	b, err := ReadBuildx(context.Background(), "buildx://daemon", envOf(map[string]string{"BUILDX_CONFIG": dir}))
	if err != nil {
		t.Fatal(err)
	}
	checkNodes(t, b, []wantNode{{"docker+unix:///var/run/docker.sock", TLS{}, nil}})
}

// fakeKubectl puts a kubectl on $PATH that logs its arguments and lists,
// for the label app=kube0, a pod being deleted, a pending one and a
// running one; for other labels a pod that failed.
func fakeKubectl(t *testing.T) (log string) {
	t.Helper()
	bin := t.TempDir()
	log = filepath.Join(bin, "args")
	kube0 := `{"apiVersion":"v1","kind":"List","items":[` +
		`{"metadata":{"name":"kube0-5d8f9-old","deletionTimestamp":"2026-11-23T09:00:00Z"},"status":{"phase":"Running"}},` +
		`{"metadata":{"name":"kube0-5d8f9-new"},"status":{"phase":"Pending"}},` +
		`{"metadata":{"name":"kube0-5d8f9-x2x7q"},"status":{"phase":"Running"}}]}`
	other := `{"apiVersion":"v1","kind":"List","items":[{"metadata":{"name":"kube-arm-1"},"status":{"phase":"Failed"}}]}`
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >>" + log + "\ncase \"$*\" in *app=kube0\\ *) echo '" + kube0 + "' ;; *) echo '" + other + "' ;; esac\n"
	if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin)
	return log
}

// TestReadBuildxKubernetes: a running pod of the node's deployment
// (named after the node, '_' turned to '-', label app=DEPLOYMENT) in the
// node's namespace, not one being deleted; a deployment without one is a
// node that is down.
func TestReadBuildxKubernetes(t *testing.T) {
	dir := buildxConfig(t)
	log := fakeKubectl(t)
	b, err := ReadBuildx(context.Background(), "buildx://kube", envOf(map[string]string{"BUILDX_CONFIG": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Nodes) != 2 {
		t.Fatalf("nodes %+v", b.Nodes)
	}
	if n := b.Nodes[0]; n.Address != "kube-pod://kube0-5d8f9-x2x7q?namespace=ci" || n.Down != nil || !platform.Same(n.Platforms[0], ocispec.Platform{OS: "linux", Architecture: "amd64"}) {
		t.Errorf("node 0 = %+v", n)
	}
	if n := b.Nodes[1]; !errors.Is(n.Down, ErrUnreachable) || !strings.Contains(n.Down.Error(), "deployment ci/kube-arm has no running pod") {
		t.Errorf("node 1 = %+v, want it down: no running pod", n)
	}
	args, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := "-n ci get pods -l app=kube0 -o json\n" +
		"-n ci get pods -l app=kube-arm -o json\n"
	if string(args) != want {
		t.Errorf("kubectl ran with\n%s\nwant\n%s", args, want)
	}
	// Created with another kubeconfig than mab's kubectl would read.
	other := strings.ReplaceAll(mustRead(t, filepath.Join(dir, "instances", "kube")), "kubeconfig=", "kubeconfig=/ci/kube.yaml")
	if err := os.WriteFile(filepath.Join(dir, "instances", "kube"), []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadBuildx(context.Background(), "buildx://kube", envOf(map[string]string{"BUILDX_CONFIG": dir}))
	if !errors.Is(err, ErrBuildx) || !strings.Contains(err.Error(), "created with KUBECONFIG=/ci/kube.yaml") {
		t.Errorf("another kubeconfig: err = %v", err)
	}
}

func TestReadBuildxKubernetesWithoutKubectl(t *testing.T) {
	dir := buildxConfig(t)
	t.Setenv("PATH", t.TempDir())
	_, err := ReadBuildx(context.Background(), "buildx://kube", envOf(map[string]string{"BUILDX_CONFIG": dir}))
	if !errors.Is(err, ErrBuildx) || !strings.Contains(err.Error(), "node kube0: kubernetes driver: kubectl is not installed") {
		t.Errorf("err = %v", err)
	}
}

func mustRead(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestReadBuildxRefusesBadBuilders: one line each, naming what to fix.
func TestReadBuildxRefusesBadBuilders(t *testing.T) {
	dir := buildxConfig(t)
	for _, c := range []struct{ addr, want string }{
		{"buildx://nope", "buildx builder nope does not exist: no file nope in " + filepath.Join(dir, "instances")},
		{"buildx://notjson", "instances/notjson is not a buildx instance: invalid character"},
		{"buildx://nonodes", "instances/nonodes has no nodes"},
		{"buildx://cloudy", `buildx builder cloudy: driver "cloud" is not supported (mab reads remote, docker-container, kubernetes, docker)`},
		{"buildx://missing-tls", "node n0: TLS file cacert "},
		{"buildx://", "no current builder: no file " + filepath.Join(dir, "current")},
		{"buildx://1x", "not a buildx builder name"},
	} {
		_, err := ReadBuildx(context.Background(), c.addr, envOf(map[string]string{"BUILDX_CONFIG": dir}))
		if !errors.Is(err, ErrBuildx) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v\nwant one line with %q", c.addr, err, c.want)
		}
	}
	_, err := ReadBuildx(context.Background(), "buildx://missing-tls", envOf(map[string]string{"BUILDX_CONFIG": dir}))
	if errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), "/testdata/buildx/certs/nonexistent-ca.pem: no such file or directory") {
		t.Errorf("missing TLS file: err = %v", err)
	}
}

// TestReadBuildxCurrent: buildx:// is the builder that `docker buildx use`
// chose.
func TestReadBuildxCurrent(t *testing.T) {
	dir := buildxConfig(t)
	if err := os.WriteFile(filepath.Join(dir, "current"), []byte(`{"Key":"unix:///var/run/docker.sock","Name":"daemon","Global":false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := ReadBuildx(context.Background(), "buildx://", envOf(map[string]string{"BUILDX_CONFIG": dir}))
	if err != nil || b.Name != "daemon" {
		t.Fatalf("read %+v, %v; want the builder daemon", b, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "current"), []byte(`{"Key":"unix:///var/run/docker.sock"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadBuildx(context.Background(), "buildx://", envOf(map[string]string{"BUILDX_CONFIG": dir})); !errors.Is(err, ErrBuildx) || !strings.Contains(err.Error(), "no current builder in") {
		t.Errorf("no name in current: err = %v", err)
	}
}

// TestDialRefusesBuildx: a buildx builder is several endpoints; Dial takes
// one.
func TestDialRefusesBuildx(t *testing.T) {
	if _, err := Dial(context.Background(), "buildx://ci", TLS{}); !errors.Is(err, ErrAddress) || errors.Is(err, ErrUnreachable) {
		t.Errorf("Dial(buildx://ci) = %v, want ErrAddress", err)
	}
}
