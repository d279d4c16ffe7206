package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
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

// candidate is an endpoint that may build a platform: a --node, a node of
// a buildx builder, or the default builder.
type candidate struct {
	addr string
	// tls is the endpoint's own; when it is zero, a tcp:// endpoint is
	// dialled with the TLS options of the command line.
	tls builder.TLS
	// platforms are what a buildx node was created for.
	platforms []ocispec.Platform
	// down, when set, is why the endpoint is known not to answer (a
	// kubernetes node without a running pod).
	down error
}

// route assigns each target to a builder and returns the builders in use,
// in the order they were dialled; the caller closes them. A target goes
//
//  1. to the first answering node of the --node values for its platform
//     (several are tried in the order given), else
//  2. when --builder is buildx://NAME, to the first answering node of the
//     instance created for that platform (its --platform), else
//  3. to the default builder (the first answering node of a buildx
//     instance) when it runs the platform natively, else to the first
//     builder that does: another node of the instance, in the order of its
//     file, then a --node builder, else
//  4. to a node of the instance whose workers list the platform
//     (emulated), else to the default builder.
//
// Each endpoint is dialled once, when a target needs it, and answers if
// the dial and the list of its workers succeed within preflightTimeout.
// When a candidate of a platform does not answer, one line on w says so
// and names the next candidate used; when none answers, the error names
// the platform and every endpoint tried, and nothing was built. The
// default builder is dialled (or discovered) only when a target is not
// covered by --node values: it may be down when they cover every
// platform.
//
// Each endpoint is dialled with its own TLS options (a node's), else, for
// a tcp:// one, with the plan's. To w it also writes one warning line per
// tcp:// builder reached without TLS off loopback, and one line when
// discovery started mab's own buildkitd.
func (r Runner) route(ctx context.Context, p *Plan, w io.Writer) ([]*node, error) {
	rt := &router{r: r, p: p, w: w, byAddr: map[string]*node{}, failed: map[string]error{}}
	if builder.IsBuildx(p.Builder) {
		rctx, cancel := context.WithTimeout(ctx, preflightTimeout)
		b, err := builder.ReadBuildx(rctx, p.Builder, os.Getenv)
		cancel()
		if err != nil {
			return nil, err
		}
		for _, n := range b.Nodes {
			rt.pool = append(rt.pool, candidate{addr: n.Address, tls: n.TLS, platforms: n.Platforms, down: n.Down})
		}
	}
	if err := checkTLS(p, rt.pool); err != nil {
		return nil, err
	}
	if err := rt.assign(ctx); err != nil {
		rt.closeAll()
		return nil, err
	}
	var used []*node
	for _, n := range rt.order {
		if len(n.targets) > 0 {
			used = append(used, n)
		} else {
			n.client.Close()
		}
	}
	return used, nil
}

// router dials each endpoint once, remembering what answered and what
// did not.
type router struct {
	r Runner
	p *Plan
	w io.Writer
	// pool are the nodes of a buildx builder; empty for a plain one.
	pool   []candidate
	order  []*node // what answered, in the order dialled
	byAddr map[string]*node
	failed map[string]error
	def    *node // the default builder, once dialled
}

// assign routes every target (see route): those that --node values name
// first, so that their endpoints decide before the default is needed.
func (rt *router) assign(ctx context.Context) error {
	var rest []int
	for i, t := range rt.p.Targets {
		cands := nodeCandidates(builder.Candidates(rt.p.Nodes, t.Platform))
		if len(cands) == 0 {
			rest = append(rest, i)
			continue
		}
		n, err := rt.first(ctx, t.Platform, cands, false)
		if err != nil {
			return err
		}
		n.targets = append(n.targets, i)
	}
	for _, i := range rest {
		n, err := rt.other(ctx, rt.p.Targets[i].Platform)
		if err != nil {
			return err
		}
		n.targets = append(n.targets, i)
	}
	return nil
}

// other routes a platform that no --node names: steps 2 to 4 of route.
func (rt *router) other(ctx context.Context, t ocispec.Platform) (*node, error) {
	var made []candidate
	for _, c := range rt.pool {
		if slices.ContainsFunc(c.platforms, func(q ocispec.Platform) bool { return platform.Same(q, t) }) {
			made = append(made, c)
		}
	}
	if len(made) > 0 {
		return rt.first(ctx, t, made, false)
	}
	def, err := rt.defaultBuilder(ctx, t)
	if err != nil {
		return nil, err
	}
	if nativeOn(def.have, t) {
		return def, nil
	}
	for _, c := range rt.pool {
		if n, err := rt.get(ctx, c); err == nil && nativeOn(n.have, t) {
			return n, nil
		}
	}
	for _, g := range groups(rt.p.Nodes) {
		if n, err := rt.first(ctx, g[0].Platform, nodeCandidates(g), true); err == nil && nativeOn(n.have, t) {
			return n, nil
		}
	}
	if !platform.Supports(def.have, t) {
		for _, c := range rt.pool {
			if n, err := rt.get(ctx, c); err == nil && platform.Supports(n.have, t) {
				return n, nil
			}
		}
	}
	return def, nil
}

// defaultBuilder dials the default builder once: the plan's, discovered
// when it names none, or the first answering node of a buildx instance
// (a node that does not answer gets its line, naming t).
func (rt *router) defaultBuilder(ctx context.Context, t ocispec.Platform) (*node, error) {
	if rt.def != nil {
		return rt.def, nil
	}
	var err error
	if len(rt.pool) > 0 {
		rt.def, err = rt.first(ctx, t, rt.pool, false)
		return rt.def, err
	}
	if rt.p.Builder == "" {
		dctx, cancel := context.WithTimeout(ctx, preflightTimeout)
		addr, err := rt.r.discover(builder.WithDiscoverTrace(dctx, &builder.DiscoverTrace{
			StartedLocal: func(d builder.LocalDaemon) { sayStarted(rt.w, d) },
		}))
		cancel()
		if err != nil {
			return nil, err
		}
		rt.p.Builder = addr
	}
	rt.def, err = rt.get(ctx, candidate{addr: rt.p.Builder})
	return rt.def, err
}

// first returns the first of cands that answers. Unless quiet, each one
// before it that did not answer gets one line on w, naming t and the
// endpoint used instead. When none answers, the error names t and every
// endpoint tried.
func (rt *router) first(ctx context.Context, t ocispec.Platform, cands []candidate, quiet bool) (*node, error) {
	down := &UnreachableError{Platform: t}
	for _, c := range cands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := rt.get(ctx, c)
		if err != nil {
			down.Tried, down.Errs = append(down.Tried, c.addr), append(down.Errs, err)
			continue
		}
		for i, addr := range down.Tried {
			if !quiet {
				fmt.Fprintf(rt.w, "node %s for %s is unreachable (%s); using %s\n", addr, platform.Format(t), reason(down.Errs[i]), c.addr)
			}
		}
		return n, nil
	}
	return nil, down
}

// get dials c, unless it was dialled before, and reads its workers'
// platforms within preflightTimeout.
func (rt *router) get(ctx context.Context, c candidate) (*node, error) {
	if n, ok := rt.byAddr[c.addr]; ok {
		return n, nil
	}
	if err, ok := rt.failed[c.addr]; ok {
		return nil, err
	}
	n, err := rt.dial(ctx, c)
	if err != nil {
		rt.failed[c.addr] = err
		return nil, err
	}
	rt.byAddr[c.addr] = n
	rt.order = append(rt.order, n)
	return n, nil
}

func (rt *router) dial(ctx context.Context, c candidate) (*node, error) {
	if c.down != nil {
		return nil, c.down
	}
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	tls := tlsFor(c.addr, c.tls, rt.p.TLS)
	if builder.Plaintext(c.addr, tls) {
		fmt.Fprintf(rt.w, "warning: builder %s is reached over plain TCP without TLS: the build session carries secret values, the SSH agent and registry credentials unencrypted\n", c.addr)
	}
	cl, err := rt.r.dial(ctx, c.addr, tls)
	if err != nil {
		return nil, err
	}
	have, err := cl.Platforms(ctx)
	if err != nil {
		cl.Close()
		return nil, err
	}
	return &node{client: cl, have: have}, nil
}

func (rt *router) closeAll() {
	for _, n := range rt.order {
		n.client.Close()
	}
}

// UnreachableError is routing's error when no candidate of a platform
// answers: nothing was built. It wraps each candidate's error.
type UnreachableError struct {
	Platform ocispec.Platform
	// Tried are the endpoints, in the order tried; Errs their errors.
	Tried []string
	Errs  []error
}

func (e *UnreachableError) Error() string {
	if len(e.Tried) == 1 {
		return fmt.Sprintf("node %s for %s: %s", e.Tried[0], platform.Format(e.Platform), OneLine(e.Errs[0]))
	}
	parts := make([]string, len(e.Tried))
	for i, addr := range e.Tried {
		parts[i] = addr + " (" + reason(e.Errs[i]) + ")"
	}
	return fmt.Sprintf("no node for %s answers, tried %s", platform.Format(e.Platform), strings.Join(parts, ", "))
}

func (e *UnreachableError) Unwrap() []error { return e.Errs }

// reason is why an endpoint did not answer, in one line, without the
// "builder unreachable" that the surrounding message says already.
func reason(err error) string {
	return strings.TrimPrefix(OneLine(err), builder.ErrUnreachable.Error()+": ")
}

// nodeCandidates are --node values as candidates.
func nodeCandidates(nodes []builder.Node) []candidate {
	out := make([]candidate, len(nodes))
	for i, n := range nodes {
		out[i] = candidate{addr: n.Address, tls: n.TLS}
	}
	return out
}

// groups splits --node values by platform, in the order each platform
// first appears; each group in the order given.
func groups(nodes []builder.Node) [][]builder.Node {
	var out [][]builder.Node
	for _, n := range nodes {
		if !slices.ContainsFunc(out, func(g []builder.Node) bool { return platform.Same(g[0].Platform, n.Platform) }) {
			out = append(out, builder.Candidates(nodes, n.Platform))
		}
	}
	return out
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
// plan names (nor a node of its buildx builder, pool) is tcp://: they
// would apply to nothing. (A builder still to be discovered is never
// tcp://.)
func checkTLS(p *Plan, pool []candidate) error {
	if p.TLS.IsZero() {
		return nil
	}
	addrs := []string{p.Builder}
	for _, n := range p.Nodes {
		addrs = append(addrs, n.Address)
	}
	for _, c := range pool {
		addrs = append(addrs, c.addr)
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
