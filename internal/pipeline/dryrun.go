package pipeline

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
)

// DryRun prints the plan: platforms, arch tags, the builder of each (the
// node that answered first, among several for a platform) and whether it
// is native there or not (cross or emulated: decided by what the build
// runs, see Mode). It reads the builders' platforms when they answer and
// touches nothing else: it never starts mab's own buildkitd. When a
// builder does not answer, the plan is printed with the modes unknown and
// the error says which builder: a build would fail there.
func DryRun(ctx context.Context, p *Plan, w io.Writer) error {
	return Runner{}.DryRun(ctx, p, w)
}

// DryRun prints the plan with r's builders; see the package function.
func (r Runner) DryRun(ctx context.Context, p *Plan, w io.Writer) error {
	switch {
	case p.Output == nil:
		fmt.Fprintf(w, "final tag: %s\n", p.Final)
	case p.Output.Name != "":
		fmt.Fprintf(w, "image:     %s (the name inside the archive)\n", p.Output.Name)
	}
	for _, t := range p.Tags[min(1, len(p.Tags)):] {
		fmt.Fprintf(w, "also tag:  %s (after the final tag is confirmed)\n", t)
	}
	fmt.Fprintf(w, "publish:   %s\n", p.publishing())
	fmt.Fprintf(w, "context:   %s\ndockerfile: %s\n\n", p.ContextDir, strings.TrimSuffix(p.DockerfileDir, "/")+"/"+p.DockerfileName)
	nodes, err := r.route(builder.WithoutStarting(ctx), p, w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tARCH TAG\tBUILDER\tMODE")
	if err != nil {
		for _, t := range p.Targets {
			b := p.Builder
			if nodes := builder.Candidates(p.Nodes, t.Platform); len(nodes) > 0 {
				addrs := make([]string, len(nodes))
				for i, n := range nodes {
					addrs[i] = n.Address
				}
				b = strings.Join(addrs, " or ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\tunknown\n", platform.Format(t.Platform), p.archTagOf(t), b)
		}
		tw.Flush()
		return fmt.Errorf("dry run: the plan above is not buildable now, its builders did not answer: %w", err)
	}
	defer func() {
		for _, n := range nodes {
			n.client.Close()
		}
	}()
	on := make([]*node, len(p.Targets))
	for _, n := range nodes {
		for _, i := range n.targets {
			on[i] = n
		}
	}
	for i, t := range p.Targets {
		n := on[i]
		mode := "native"
		switch {
		case !platform.Supports(n.have, t.Platform):
			mode = "unsupported: " + noWorkerReason(t.Platform, n.have)
			if emulable(t.Platform, n.have) {
				mode = "unsupported: needs `mab emulation install " + t.Platform.Architecture + "`"
			}
		case !nativeOn(n.have, t.Platform):
			// Whether a RUN runs under QEMU is known once the frontend
			// has turned the Dockerfile into steps: the build says.
			mode = "cross or emulated"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", platform.Format(t.Platform), p.archTagOf(t), n.client.Address(), mode)
	}
	return tw.Flush()
}

// publishing says in a few words what the build will write.
func (p *Plan) publishing() string {
	switch {
	case p.Output != nil:
		return "nothing pushed: one OCI index of every platform into the " + p.Output.Dest.Kind() + " " + p.Output.Dest.Path
	case p.NoMerge && p.PushByDigest:
		return "each platform by digest only (--no-merge --push-by-digest): no index, no tag"
	case p.NoMerge:
		return "each platform under its arch tag once every platform is pushed (--no-merge): no index, no final tag"
	case p.PushByDigest:
		return "an index under the tags; platforms by digest only, no arch tags (--push-by-digest)"
	}
	return "an index under the tags, then the arch tags"
}

// archTagOf is t's arch tag as the dry run shows it: "-" when none will
// be written.
func (p *Plan) archTagOf(t Target) string {
	if p.PushByDigest || p.Output != nil {
		return "-"
	}
	return t.Tag.String()
}
