package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
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
}

// ParseNodes reads PLATFORM=ENDPOINT values given one by one (flags) and
// the pairs of $MAB_NODES (env). A flag wins over the environment for the same
// platform; a platform given twice in one of them is an error. The result
// keeps the order of the environment, then of the flags, so that routing
// that walks it is the same from run to run.
func ParseNodes(flags []string, env string) ([]Node, error) {
	var out []Node
	index := map[string]int{}
	add := func(src, pair string, override bool) error {
		plat, addr, ok := strings.Cut(pair, "=")
		if !ok || addr == "" {
			return fmt.Errorf("%w%s %q: want PLATFORM=ENDPOINT, for example linux/arm64=tcp://arm-host:1234", ErrInvalidNode, src, pair)
		}
		p, err := platform.Parse(plat)
		if err != nil {
			return fmt.Errorf("%w%s %q: %w", ErrInvalidNode, src, pair, err)
		}
		key := platform.Key(p)
		if i, dup := index[key]; dup {
			if !override {
				return fmt.Errorf("%w%s: %s is given twice", ErrInvalidNode, src, key)
			}
			out[i].Address = addr
			return nil
		}
		index[key] = len(out)
		out = append(out, Node{Platform: p, Address: addr})
		return nil
	}
	for _, pair := range strings.FieldsFunc(env, func(r rune) bool { return r == ' ' || r == ';' || r == '\n' || r == '\t' }) {
		if err := add(" in $"+EnvNodes, pair, false); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, pair := range flags {
		plat, _, _ := strings.Cut(pair, "=")
		if p, err := platform.Parse(plat); err == nil {
			if seen[platform.Key(p)] {
				return nil, fmt.Errorf("%w: %s is given twice", ErrInvalidNode, platform.Format(p))
			}
			seen[platform.Key(p)] = true
		}
		if err := add("", pair, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Known lists every endpoint a user may have meant, in the order `mab
// builder ls` shows them: the address of flag or $BUILDKIT_HOST, the
// default socket, the Docker daemon, mab's own buildkitd, then the nodes of
// $MAB_NODES. Duplicates are listed once.
func Known(flag string, getenv func(string) string) ([]string, error) {
	nodes, err := ParseNodes(nil, getenv(EnvNodes))
	if err != nil {
		return nil, err
	}
	var out []string
	add := func(a string) {
		for _, have := range out {
			if have == a {
				return
			}
		}
		out = append(out, a)
	}
	if a := Address(flag, getenv); a != "" {
		add(a)
	}
	add(DefaultAddress)
	add("docker")
	add(LocalAddress())
	for _, n := range nodes {
		add(n.Address)
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
