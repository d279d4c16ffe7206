package builder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BuildxScheme names a builder instance that `docker buildx create`
// stored: buildx://NAME, or buildx:// for buildx's current builder.
const BuildxScheme = "buildx://"

// ErrBuildx is wrapped by the errors of ReadBuildx: a builder that is not
// stored, a file that buildx did not write, a driver or a node that mab
// cannot reach.
var ErrBuildx = errors.New("buildx builder")

// IsBuildx reports whether addr names a buildx builder instance.
func IsBuildx(addr string) bool { return strings.HasPrefix(addr, BuildxScheme) }

// Buildx is a builder instance as buildx stores it, its nodes turned into
// endpoints that Dial takes.
type Buildx struct {
	// Name is the instance's name; File is where it was read.
	Name, File string
	// Driver is buildx's driver: remote, docker-container, kubernetes or
	// docker.
	Driver string
	// Nodes are in the order of the file: the order buildx prefers them.
	Nodes []BuildxNode
}

// BuildxNode is one node of a buildx builder.
type BuildxNode struct {
	// Name is the node's name in the instance (--node of buildx create).
	Name string
	// Endpoint is where mab dials the node, with its own TLS options.
	Endpoint
	// Platforms are the platforms the node was created for (--platform of
	// buildx create); empty when it names none, and the workers decide.
	Platforms []ocispec.Platform
	// Down, when set, says why the node cannot be dialled although the
	// instance is sound: a kubernetes deployment without a running pod.
	// Routing treats it as a node that does not answer.
	Down error
}

// The parts of buildx's store.NodeGroup that mab reads (buildx's
// store/nodegroup.go); buildx is not imported.
type buildxGroup struct {
	Name    string
	Driver  string
	Nodes   []buildxStoreNode
	Dynamic bool
}

type buildxStoreNode struct {
	Name       string
	Endpoint   string
	Platforms  []ocispec.Platform
	DriverOpts map[string]string
}

// buildxDrivers are the drivers whose nodes mab reaches.
var buildxDrivers = []string{"remote", "docker-container", "kubernetes", "docker"}

// buildxName is buildx's rule for instance names (store.ValidateName);
// buildx stores the name lower-cased.
var buildxName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9.\-_]*$`)

// BuildxDir is the folder buildx keeps its state in, by buildx's rule:
// $BUILDX_CONFIG, else $DOCKER_CONFIG/buildx, else ~/.docker/buildx.
func BuildxDir(getenv func(string) string) (string, error) {
	if d := getenv("BUILDX_CONFIG"); d != "" {
		return d, nil
	}
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return filepath.Join(d, "buildx"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("%w: finding buildx's folder: %w", ErrBuildx, err)
		}
	}
	return filepath.Join(home, ".docker", "buildx"), nil
}

// ReadBuildx reads the builder instance that addr (buildx://NAME, or
// buildx:// for buildx's current builder) names from buildx's folder
// (BuildxDir) and maps each node to an endpoint by its driver:
//
//	remote             its endpoint (tcp:// with the TLS files of its
//	                   driver options cacert, cert, key, servername; unix://)
//	docker-container   docker-container://buildx_buildkit_NODE
//	kubernetes         kube-pod://POD?namespace=NS, POD a running pod of the
//	                   node's deployment (found with kubectl)
//	docker             docker, or docker+unix:// and docker+tcp://
//
// Errors wrap ErrBuildx and say what to fix in one line: a builder that is
// not there (naming the folder searched), a file that is not an instance
// or has no nodes, a driver mab does not reach, a TLS file that is missing.
func ReadBuildx(ctx context.Context, addr string, getenv func(string) string) (*Buildx, error) {
	dir, err := BuildxDir(getenv)
	if err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(addr, BuildxScheme)
	if name == "" {
		if name, err = currentBuildx(dir); err != nil {
			return nil, err
		}
	}
	if !buildxName.MatchString(name) {
		return nil, fmt.Errorf("%w %q: not a buildx builder name (a letter, then letters, digits, '.', '-', '_')", ErrBuildx, name)
	}
	name = strings.ToLower(name)
	file := filepath.Join(dir, "instances", name)
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %s does not exist: no file %s in %s (`docker buildx ls` lists the builders)", ErrBuildx, name, name, filepath.Join(dir, "instances"))
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrBuildx, name, err)
	}
	var g buildxGroup
	if err := json.Unmarshal(data, &g); err != nil {
		return nil, fmt.Errorf("%w %s: %s is not a buildx instance: %s", ErrBuildx, name, file, firstLine(err))
	}
	if g.Dynamic {
		return nil, fmt.Errorf("%w %s: its nodes are resolved by buildx at build time (driver %s): mab cannot read them", ErrBuildx, name, g.Driver)
	}
	if len(g.Nodes) == 0 {
		return nil, fmt.Errorf("%w %s: %s has no nodes", ErrBuildx, name, file)
	}
	if !slices.Contains(buildxDrivers, g.Driver) {
		return nil, fmt.Errorf("%w %s: driver %q is not supported (mab reads %s)", ErrBuildx, name, g.Driver, strings.Join(buildxDrivers, ", "))
	}
	b := &Buildx{Name: name, File: file, Driver: g.Driver}
	for _, sn := range g.Nodes {
		n, err := buildxNode(ctx, g.Driver, sn, getenv)
		if err != nil {
			return nil, fmt.Errorf("%w %s: node %s: %w", ErrBuildx, name, sn.Name, err)
		}
		b.Nodes = append(b.Nodes, n)
	}
	return b, nil
}

// currentBuildx is the name in buildx's file "current": the builder that
// `docker buildx use` chose. buildx also keys it by the Docker endpoint it
// was chosen for; mab takes it whatever the endpoint.
func currentBuildx(dir string) (string, error) {
	file := filepath.Join(dir, "current")
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w: no current builder: no file %s (`docker buildx use NAME` chooses one; or name it: buildx://NAME)", ErrBuildx, file)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBuildx, err)
	}
	var c struct{ Name string }
	if err := json.Unmarshal(data, &c); err != nil {
		return "", fmt.Errorf("%w: %s is not buildx's current builder: %s", ErrBuildx, file, firstLine(err))
	}
	if c.Name == "" {
		return "", fmt.Errorf("%w: no current builder in %s: buildx then uses the Docker daemon's own builder (docker)", ErrBuildx, file)
	}
	return c.Name, nil
}

// buildxNode maps one stored node to the endpoint its driver reaches.
func buildxNode(ctx context.Context, driver string, sn buildxStoreNode, getenv func(string) string) (BuildxNode, error) {
	n := BuildxNode{Name: sn.Name}
	for _, p := range sn.Platforms {
		n.Platforms = append(n.Platforms, platforms.Normalize(p))
	}
	switch driver {
	case "remote":
		n.Address = sn.Endpoint
		tls, err := buildxTLS(sn.DriverOpts)
		if err != nil {
			return n, err
		}
		n.TLS = tls
	case "docker-container":
		n.Address = "docker-container://buildx_buildkit_" + sn.Name
		if err := sameDocker(sn.Endpoint, getenv); err != nil {
			return n, err
		}
		if sn.Endpoint != "" && !strings.Contains(sn.Endpoint, "://") && sn.Endpoint != "default" {
			n.Address += "?context=" + sn.Endpoint
		}
	case "kubernetes":
		return kubeNode(ctx, n, sn, getenv)
	case "docker":
		switch {
		case sn.Endpoint == "" || sn.Endpoint == "default":
			n.Address = "docker"
		case strings.HasPrefix(sn.Endpoint, "unix://"), strings.HasPrefix(sn.Endpoint, "tcp://"):
			n.Address = "docker+" + sn.Endpoint
		default:
			return n, fmt.Errorf("the docker driver on Docker context %q: mab reaches a Docker daemon by its address (docker+unix://…, docker+tcp://…), not by a context", sn.Endpoint)
		}
	}
	if err := CheckAddress(n.Address); err != nil {
		return n, err
	}
	if err := n.TLS.check(n.Address); err != nil {
		return n, err
	}
	return n, nil
}

// buildxTLS reads a remote node's TLS driver options, as buildx's remote
// driver does, and checks that each file is there. Its errors do not wrap
// ErrTLS, which is about TLS options given to mab itself.
func buildxTLS(opts map[string]string) (TLS, error) {
	t := TLS{ServerName: opts["servername"], CACert: opts["cacert"], Cert: opts["cert"], Key: opts["key"]}
	for _, f := range []struct{ key, path string }{{"cacert", t.CACert}, {"cert", t.Cert}, {"key", t.Key}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return t, fmt.Errorf("TLS file %s %s: %w", f.key, f.path, unwrapPathError(err))
		}
	}
	return t, nil
}

// unwrapPathError drops the path an *fs.PathError repeats.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// sameDocker refuses a docker-container node whose container runs in a
// Docker daemon other than the one `docker` reaches now ($DOCKER_HOST):
// BuildKit's docker-container:// helper runs the docker CLI, which knows
// only that one (or a context, passed on).
func sameDocker(endpoint string, getenv func(string) string) error {
	if !strings.Contains(endpoint, "://") {
		return nil // a Docker context, or none
	}
	host := getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	if endpoint != host {
		return fmt.Errorf("its container runs in the Docker daemon at %s, and `docker` reaches %s: set DOCKER_HOST=%s", endpoint, host, endpoint)
	}
	return nil
}

// kubeNode finds a running pod of the node's deployment, as buildx's
// kubernetes driver does: the deployment is named after the node ('_'
// turned to '-'), its pods carry the label app=DEPLOYMENT, and a pod that
// is being deleted does not count. The namespace is the driver option,
// else kubectl's default.
func kubeNode(ctx context.Context, n BuildxNode, sn buildxStoreNode, getenv func(string) string) (BuildxNode, error) {
	deployment := strings.ReplaceAll(sn.Name, "_", "-")
	ns := sn.DriverOpts["namespace"]
	if _, q, ok := strings.Cut(sn.Endpoint, "?"); ok {
		if v, err := url.ParseQuery(q); err == nil && v.Get("kubeconfig") != "" && v.Get("kubeconfig") != getenv("KUBECONFIG") {
			return n, fmt.Errorf("created with KUBECONFIG=%s, and mab's kubectl reads KUBECONFIG=%q: set KUBECONFIG=%s", v.Get("kubeconfig"), getenv("KUBECONFIG"), v.Get("kubeconfig"))
		}
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		return n, fmt.Errorf("kubernetes driver: kubectl is not installed: mab finds the pod of deployment %s with `kubectl get pods` and reaches it with `kubectl exec`", deployment)
	}
	args := []string{"get", "pods", "-l", "app=" + deployment, "-o", "json"}
	where := "deployment " + deployment
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
		where = "deployment " + ns + "/" + deployment
	}
	n.Address = "kubernetes " + where // for messages, until a pod is found
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kubectl, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		why, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		n.Down = fmt.Errorf("%w: `kubectl %s` failed: %s", ErrUnreachable, strings.Join(args, " "), why)
		return n, nil
	}
	var pods struct {
		Items []struct {
			Metadata struct {
				Name              string
				DeletionTimestamp string
			}
			Status struct{ Phase string }
		}
	}
	if err := json.Unmarshal(out, &pods); err != nil {
		return n, fmt.Errorf("reading `kubectl %s`: %w", strings.Join(args, " "), err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase == "Running" && p.Metadata.DeletionTimestamp == "" && p.Metadata.Name != "" {
			n.Address = "kube-pod://" + p.Metadata.Name
			if ns != "" {
				n.Address += "?namespace=" + ns
			}
			return n, nil
		}
	}
	n.Down = fmt.Errorf("%w: %s has no running pod", ErrUnreachable, where)
	return n, nil
}
