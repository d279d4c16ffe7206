package pipeline

import (
	"context"
	"fmt"

	"github.com/mab-build/mab/internal/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// node is one builder and what the plan sends to it.
type node struct {
	client  Builder
	have    []ocispec.Platform // the workers' platforms, the host's first
	targets []int              // indexes into Plan.Targets
}

// nativeOn reports whether a builder whose workers list have runs p
// without emulation: BuildKit lists its host's platform first, and lists p
// only when it can run it (an arm64 kernel without 32-bit support does not
// list linux/arm/v7).
func nativeOn(have []ocispec.Platform, p ocispec.Platform) bool {
	return len(have) > 0 && platform.Native(have[0], p) && platform.Supports(have, p)
}

// route dials the default builder (discovering one when the plan names
// none) and every node, reads their platforms and assigns each target: to
// the node named for its platform, else to the default builder when it
// runs the platform natively, else to the first node (in the order the
// nodes were given) that does, else to the default builder. It returns the
// builders in use, the default first; the caller closes them.
func (r Runner) route(ctx context.Context, p *Plan) ([]*node, error) {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	var order []*node
	byAddr := map[string]*node{}
	closeAll := func() {
		for _, n := range order {
			n.client.Close()
		}
	}
	get := func(addr string) (*node, error) {
		if n, ok := byAddr[addr]; ok {
			return n, nil
		}
		c, err := r.dial(ctx, addr, p.TLS)
		if err != nil {
			return nil, err
		}
		n := &node{client: c}
		byAddr[addr] = n
		order = append(order, n)
		if n.have, err = c.Platforms(ctx); err != nil {
			return nil, err
		}
		return n, nil
	}
	if p.Builder == "" {
		addr, err := r.discover(ctx)
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
	named := map[string]*node{}
	for _, nd := range p.Nodes {
		n, err := get(nd.Address)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("node %s: %w", nd.Address, err)
		}
		named[platform.Key(nd.Platform)] = n
	}
	for i, t := range p.Targets {
		n := def
		if nn, ok := named[platform.Key(t.Platform)]; ok {
			n = nn
		} else if !nativeOn(def.have, t.Platform) {
			for _, other := range order[1:] {
				if nativeOn(other.have, t.Platform) {
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
