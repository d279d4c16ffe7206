package pipeline

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mab-build/mab/builder"

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
//
// Each endpoint is dialled with its own TLS options (a node's), else, for
// a tcp:// one, with the plan's. To w it writes one warning line per
// tcp:// builder reached without TLS off loopback, and one line when
// discovery started mab's own buildkitd.
func (r Runner) route(ctx context.Context, p *Plan, w io.Writer) ([]*node, error) {
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	if err := checkTLS(p); err != nil {
		return nil, err
	}
	var order []*node
	byAddr := map[string]*node{}
	closeAll := func() {
		for _, n := range order {
			n.client.Close()
		}
	}
	get := func(addr string, own builder.TLS) (*node, error) {
		if n, ok := byAddr[addr]; ok {
			return n, nil
		}
		tls := tlsFor(addr, own, p.TLS)
		if builder.Plaintext(addr, tls) {
			fmt.Fprintf(w, "warning: builder %s is reached over plain TCP without TLS: the build session carries secret values, the SSH agent and registry credentials unencrypted\n", addr)
		}
		c, err := r.dial(ctx, addr, tls)
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
		addr, err := r.discover(builder.WithDiscoverTrace(ctx, &builder.DiscoverTrace{
			StartedLocal: func(d builder.LocalDaemon) { sayStarted(w, d) },
		}))
		if err != nil {
			return nil, err
		}
		p.Builder = addr
	}
	def, err := get(p.Builder, builder.TLS{})
	if err != nil {
		closeAll()
		return nil, err
	}
	named := map[string]*node{}
	for _, nd := range p.Nodes {
		n, err := get(nd.Address, nd.TLS)
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

// tlsFor is the TLS an endpoint is dialled with: its own when it has any
// (a node's), else the command line's for a tcp:// endpoint, else none.
func tlsFor(addr string, own, flags builder.TLS) builder.TLS {
	switch {
	case !own.IsZero():
		return own
	case strings.HasPrefix(addr, "tcp://"):
		return flags
	}
	return builder.TLS{}
}

// checkTLS refuses TLS options on the command line when no endpoint the
// plan names is tcp://: they would apply to nothing. (A builder still to
// be discovered is never tcp://.)
func checkTLS(p *Plan) error {
	if p.TLS.IsZero() {
		return nil
	}
	addrs := []string{p.Builder}
	for _, n := range p.Nodes {
		addrs = append(addrs, n.Address)
	}
	if slices.ContainsFunc(addrs, func(a string) bool { return strings.HasPrefix(a, "tcp://") }) {
		return nil
	}
	return fmt.Errorf("%w: TLS options need a tcp:// builder or node, and none is", builder.ErrTLS)
}

// sayStarted is the line that tells the user mab started its own
// buildkitd, which outlives the build.
func sayStarted(w io.Writer, d builder.LocalDaemon) {
	fmt.Fprintf(w, "started mab's own buildkitd (pid %d, state in %s); it keeps running for the next builds: `mab builder stop` ends it\n", d.PID, d.StateDir)
}
