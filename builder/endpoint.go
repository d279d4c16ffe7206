package builder

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/mab-build/mab/internal/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Environment variables that name builders when no flag does.
const (
	// EnvHost is the BuildKit address, as buildctl reads it.
	EnvHost = "BUILDKIT_HOST"
	// EnvNodes holds PLATFORM=ENDPOINT pairs separated by spaces,
	// semicolons or newlines, for Makefiles and CI.
	EnvNodes = "MAB_NODES"
)

// ErrInvalidNode is wrapped by the errors of ParseNodes.
var ErrInvalidNode = errors.New("invalid node")

// ErrAddress is wrapped by CheckAddress's errors: an endpoint address that
// names no scheme Dial knows.
var ErrAddress = errors.New("invalid builder address")

// Schemes are the builder schemes mab takes: "docker" stands alone (the
// daemon of $DOCKER_HOST) or as docker+unix:// and docker+tcp://; Dial
// takes all but "buildx", a builder instance of several nodes that
// ReadBuildx turns into endpoints.
var Schemes = []string{"unix", "tcp", "ssh", "docker-container", "kube-pod", "podman-container", "nerdctl-container", "docker", "buildx"}

// CheckAddress refuses an address whose scheme Dial does not know, before
// anything is dialled: BuildKit's client would take bogus://x for a TCP
// address and fail with a DNS error.
func CheckAddress(addr string) error {
	if addr == "docker" {
		return nil
	}
	want := "(want " + strings.Join(Schemes, ", ") + ")"
	scheme, rest, ok := strings.Cut(addr, "://")
	switch {
	case !ok:
		return fmt.Errorf("%w %q: no scheme %s", ErrAddress, addr, want)
	case scheme == "docker+unix" || scheme == "docker+tcp":
	case scheme == "buildx":
		// buildx:// alone is buildx's current builder.
		if rest != "" && !buildxName.MatchString(rest) {
			return fmt.Errorf("%w %q: %q is not a buildx builder name (a letter, then letters, digits, '.', '-', '_')", ErrAddress, addr, rest)
		}
		return nil
	case scheme == "docker":
		return fmt.Errorf("%w %q: docker stands alone, or is docker+unix:// or docker+tcp://", ErrAddress, addr)
	case !slices.Contains(Schemes, scheme):
		return fmt.Errorf("%w %q: unknown scheme %s %s", ErrAddress, addr, scheme, want)
	}
	if rest == "" {
		return fmt.Errorf("%w %q: nothing after %s://", ErrAddress, addr, scheme)
	}
	return nil
}

// Plaintext reports whether a builder at addr, dialled with tls, is
// reached over the network without encryption: a tcp:// address without
// TLS whose host is not a loopback address or localhost. The session to
// such a builder carries secret values, the SSH agent and registry
// credentials in the clear.
func Plaintext(addr string, tls TLS) bool {
	if !strings.HasPrefix(addr, "tcp://") || !tls.IsZero() {
		return false
	}
	u, err := url.Parse(addr)
	if err != nil {
		return true
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// Kernel says whose kernel runs a builder's solves: that is where QEMU
// handlers for emulated platforms must be registered, and whether this
// machine's kernel can be probed on its behalf.
type Kernel int

const (
	// KernelLocal is this machine's: a buildkitd on a unix:// socket.
	KernelLocal Kernel = iota
	// KernelDocker is a Docker daemon's: its own BuildKit ("docker",
	// docker+unix://, docker://) or a buildkitd in one of its containers
	// (docker-container://).
	KernelDocker
	// KernelRemote is another machine's, as far as mab can tell: tcp://,
	// ssh://, kube-pod:// and the other connection helpers.
	KernelRemote
)

// KernelOf answers, from the address alone, whose kernel runs the
// solves of the builder at addr.
func KernelOf(addr string) Kernel {
	switch {
	case addr == "docker", strings.HasPrefix(addr, "docker+"), strings.HasPrefix(addr, "docker://"), strings.HasPrefix(addr, "docker-container://"):
		return KernelDocker
	case strings.HasPrefix(addr, "unix://"):
		return KernelLocal
	}
	return KernelRemote
}

// Address is the builder a command uses: the flag's value, else
// $BUILDKIT_HOST through getenv; empty means "discover one" (Discover).
func Address(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	return getenv(EnvHost)
}

// Node sends one platform to its own builder.
type Node struct {
	Platform ocispec.Platform
	Address  string
	// TLS is the node's own; when it is zero, a tcp:// node is dialled
	// with the TLS options of the command line.
	TLS TLS
}

// ParseNodes reads PLATFORM=ENDPOINT[,KEY=VALUE...] values given one by
// one (flags) and the values of $MAB_NODES (env), separated there by
// spaces, semicolons or newlines. The keys are a tcp:// node's own TLS
// options: cacert=FILE, cert=FILE, key=FILE (cert and key go together) and
// servername=NAME, as in
//
//	linux/arm64=tcp://arm:1234,cacert=ca.pem,cert=c.pem,key=k.pem
//
// A platform given several times has several candidate nodes, in the
// order given: routing builds it on the first that answers (see
// Candidates). The same endpoint twice for one platform is an error. When
// the flags name a platform, their nodes replace those of the environment
// for it. The result keeps the order of the environment, then of the
// flags, so that routing that walks it is the same from run to run.
func ParseNodes(flags []string, env string) ([]Node, error) {
	fromEnv, err := parseNodeList(" in $"+EnvNodes, strings.FieldsFunc(env, func(r rune) bool { return r == ' ' || r == ';' || r == '\n' || r == '\t' }))
	if err != nil {
		return nil, err
	}
	for _, f := range flags {
		if strings.TrimSpace(f) == "" {
			return nil, fmt.Errorf("%w: an empty value: want PLATFORM=ENDPOINT, for example linux/arm64=tcp://arm-host:1234", ErrInvalidNode)
		}
	}
	fromFlags, err := parseNodeList("", flags)
	if err != nil {
		return nil, err
	}
	named := map[string]bool{}
	for _, n := range fromFlags {
		named[platform.Key(n.Platform)] = true
	}
	var out []Node
	for _, n := range fromEnv {
		if !named[platform.Key(n.Platform)] {
			out = append(out, n)
		}
	}
	return append(out, fromFlags...), nil
}

// parseNodeList parses the pairs of one source (src says which, for
// errors) and refuses an endpoint named twice for one platform.
func parseNodeList(src string, pairs []string) ([]Node, error) {
	var out []Node
	for _, pair := range pairs {
		n, err := parseNode(pair)
		if err != nil {
			return nil, fmt.Errorf("%w%s %q: %w", ErrInvalidNode, src, pair, err)
		}
		for _, have := range out {
			if platform.Same(have.Platform, n.Platform) && have.Address == n.Address {
				return nil, fmt.Errorf("%w%s: %s=%s is given twice", ErrInvalidNode, src, platform.Format(n.Platform), n.Address)
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// Candidates are the nodes of nodes for platform p, in their order: the
// endpoints to try, one after the other, until one answers.
func Candidates(nodes []Node, p ocispec.Platform) []Node {
	var out []Node
	for _, n := range nodes {
		if platform.Same(n.Platform, p) {
			out = append(out, n)
		}
	}
	return out
}

// parseNode parses one PLATFORM=ENDPOINT[,KEY=VALUE...].
func parseNode(s string) (Node, error) {
	plat, rest, ok := strings.Cut(s, "=")
	fields := strings.Split(rest, ",")
	if !ok || fields[0] == "" {
		return Node{}, errors.New("want PLATFORM=ENDPOINT, for example linux/arm64=tcp://arm-host:1234")
	}
	p, err := platform.Parse(plat)
	if err != nil {
		return Node{}, err
	}
	n := Node{Platform: p, Address: fields[0]}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok || v == "" {
			return Node{}, fmt.Errorf("%q is not KEY=VALUE", f)
		}
		switch strings.ToLower(k) {
		case "cacert":
			n.TLS.CACert = v
		case "cert":
			n.TLS.Cert = v
		case "key":
			n.TLS.Key = v
		case "servername":
			n.TLS.ServerName = v
		default:
			return Node{}, fmt.Errorf("unknown key %q (want cacert, cert, key, servername)", k)
		}
	}
	if err := n.TLS.check(n.Address); err != nil {
		return Node{}, err
	}
	return n, nil
}

// Endpoint is a builder address and the TLS options it is dialled with.
type Endpoint struct {
	Address string
	TLS     TLS
}

// Known lists every endpoint a user may have meant, in the order a
// listing of builders shows them: the address of flag or $BUILDKIT_HOST,
// the default socket, the Docker daemon, mab's own buildkitd, then the
// nodes of $MAB_NODES with their TLS options. Duplicates are listed once.
func Known(flag string, getenv func(string) string) ([]Endpoint, error) {
	nodes, err := ParseNodes(nil, getenv(EnvNodes))
	if err != nil {
		return nil, err
	}
	var out []Endpoint
	add := func(e Endpoint) {
		for _, have := range out {
			if have.Address == e.Address {
				return
			}
		}
		out = append(out, e)
	}
	if a := Address(flag, getenv); a != "" {
		add(Endpoint{Address: a})
	}
	add(Endpoint{Address: DefaultAddress})
	add(Endpoint{Address: "docker"})
	add(Endpoint{Address: LocalAddress()})
	for _, n := range nodes {
		add(Endpoint{Address: n.Address, TLS: n.TLS})
	}
	return out, nil
}

// Probe dials addr, reads its workers' platforms and closes the
// connection: whether a builder answers, and what it runs.
func Probe(ctx context.Context, addr string, tls TLS) ([]ocispec.Platform, error) {
	c, err := Dial(ctx, addr, tls)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Platforms(ctx)
}

// DefaultSocketExists reports whether a buildkitd socket is at
// DefaultAddress: commands that merely show a builder's platforms look
// there when none was named.
func DefaultSocketExists() bool {
	_, err := os.Stat(strings.TrimPrefix(DefaultAddress, "unix://"))
	return err == nil
}
