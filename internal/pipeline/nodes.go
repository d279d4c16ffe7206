package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/mab-build/mab/builder"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// parseNodes reads --node PLATFORM=ENDPOINT flags and $MAB_NODES (the same
// pairs separated by spaces or semicolons, for Makefiles and CI). A flag
// wins over the environment for the same platform.
func parseNodes(flags []string, env string) (map[string]string, error) {
	out := map[string]string{}
	add := func(src, pair string, override bool) error {
		plat, endpoint, ok := strings.Cut(pair, "=")
		if !ok || endpoint == "" {
			return fmt.Errorf("invalid %s %q: want PLATFORM=ENDPOINT, for example linux/arm64=tcp://arm-host:1234", src, pair)
		}
		p, err := ParsePlatform(plat)
		if err != nil {
			return fmt.Errorf("invalid %s %q: %w", src, pair, err)
		}
		key := platforms.Format(p)
		if _, dup := out[key]; dup && !override {
			return fmt.Errorf("invalid %s: %s is given twice", src, key)
		}
		out[key] = endpoint
		return nil
	}
	for _, pair := range strings.FieldsFunc(env, func(r rune) bool { return r == ' ' || r == ';' || r == '\n' }) {
		if err := add("MAB_NODES", pair, false); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, pair := range flags {
		plat, _, _ := strings.Cut(pair, "=")
		if seen[plat] {
			return nil, fmt.Errorf("invalid --node: %s is given twice", plat)
		}
		seen[plat] = true
		if err := add("--node", pair, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// node is one builder and what the plan sends to it.
type node struct {
	addr    string
	client  *builder.Client
	have    []ocispec.Platform // the worker's platforms, native first
	targets []int              // indexes into Plan.Targets
}

// nativeTo reports whether p runs without emulation on a worker whose
// platforms are have: BuildKit lists the host's own platform first.
func nativeTo(have []ocispec.Platform, p ocispec.Platform) bool {
	if len(have) == 0 {
		return false
	}
	host := have[0]
	if host.OS != p.OS {
		return false
	}
	switch {
	case host.Architecture == p.Architecture:
		return true
	case host.Architecture == "amd64" && p.Architecture == "386":
		return true
	}
	return false
}

func supports(have []ocispec.Platform, want ocispec.Platform) bool {
	for _, h := range have {
		if platforms.NewMatcher(h).Match(want) {
			return true
		}
	}
	return false
}

// route dials the default builder and every node, reads their platforms
// and assigns each target: to the node named for its platform, else to a
// node that runs it natively, else to the default builder. It returns the
// builders in use, the default first. The caller closes them.
func route(ctx context.Context, p *Plan) ([]*node, error) {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	byAddr := map[string]*node{}
	var order []*node
	get := func(addr string) (*node, error) {
		if n, ok := byAddr[addr]; ok {
			return n, nil
		}
		c, err := builder.Dial(ctx, addr, p.TLS)
		if err != nil {
			return nil, err
		}
		n := &node{addr: addr, client: c}
		byAddr[addr] = n
		order = append(order, n)
		if n.have, err = c.Platforms(ctx); err != nil {
			return nil, err
		}
		return n, nil
	}
	closeAll := func() {
		for _, n := range order {
			n.client.Close()
		}
	}
	if p.Builder == "" {
		addr, _, err := builder.Discover(ctx)
		if err != nil {
			return nil, err
		}
		p.Builder = addr
	}
	def, err := get(p.Builder)
	if err != nil {
		closeAll()
		return nil, err
	}
	for _, addr := range p.Nodes {
		if _, err := get(addr); err != nil {
			closeAll()
			return nil, fmt.Errorf("node %s: %w", addr, err)
		}
	}
	for i, t := range p.Targets {
		n := def
		if addr, ok := p.Nodes[platforms.Format(t.Platform)]; ok {
			n = byAddr[addr]
		} else if !nativeTo(def.have, t.Platform) {
			for _, other := range order[1:] {
				if nativeTo(other.have, t.Platform) {
					n = other
					break
				}
			}
		}
		n.targets = append(n.targets, i)
	}
	var used []*node
	for _, n := range order {
		if len(n.targets) > 0 {
			used = append(used, n)
		} else {
			n.client.Close()
		}
	}
	return used, nil
}
