package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/internal/platform"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newBuilderCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "builder",
		Short: "List the BuildKit endpoints mab can use; stop the one it started",
		Long: `Without --builder and $BUILDKIT_HOST, mab uses the first that answers of:
a buildkitd at unix:///run/buildkit/buildkitd.sock, the Docker daemon's own
BuildKit ($DOCKER_HOST), and mab's own buildkitd, started from PATH when
needed (state in $XDG_STATE_HOME/mab, reused by the next build).`,
	}
	cmd.AddCommand(newBuilderLsCmd(), newBuilderStopCmd())
	return cmd
}

func newBuilderLsCmd() *cobra.Command {
	var addr string
	var tls tlsFlags
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "Show each known endpoint, whether it answers, and its platforms",
		Long: `List --builder (else $BUILDKIT_HOST), the default socket, the Docker
daemon, mab's own buildkitd and the nodes of $MAB_NODES, each with whether
it answers (and why not) and the platforms its workers run. The TLS flags
apply to every tcp:// endpoint that has no TLS files of its own, as for
mab build.`,
		Example: `  mab builder ls
  MAB_NODES="linux/arm64=tcp://arm-host:1234" mab builder ls
  mab builder ls --builder tcp://buildkit.internal:1234 --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			known, err := builder.Known(addr, os.Getenv)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ENDPOINT\tSTATUS\tPLATFORMS")
			for _, e := range known {
				status, plats := probe(cmd.Context(), e.Address, tls.forEndpoint(e.Address, e.TLS))
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Address, status, plats)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&addr, "builder", "", "a BuildKit address to list first (default $BUILDKIT_HOST)")
	tls.add(cmd.Flags())
	return cmd
}

// tlsFlags are --tlscacert, --tlscert, --tlskey and --tlsservername of the
// commands that dial builders without building (builder ls, emulation
// status): they apply to tcp:// endpoints without TLS files of their own.
type tlsFlags struct{ tls builder.TLS }

func (t *tlsFlags) add(f *pflag.FlagSet) {
	f.StringVar(&t.tls.CACert, "tlscacert", "", "CA certificate of a tcp:// builder")
	f.StringVar(&t.tls.Cert, "tlscert", "", "client certificate for a tcp:// builder")
	f.StringVar(&t.tls.Key, "tlskey", "", "client key for a tcp:// builder")
	f.StringVar(&t.tls.ServerName, "tlsservername", "", "server name expected in a tcp:// builder's certificate")
}

// forEndpoint is the TLS to dial addr with: own, else the flags' for a
// tcp:// address.
func (t *tlsFlags) forEndpoint(addr string, own builder.TLS) builder.TLS {
	if !own.IsZero() || !strings.HasPrefix(addr, "tcp://") {
		return own
	}
	return t.tls
}

// probe says whether the builder at addr answers and which platforms its
// workers run, or why it does not answer.
func probe(ctx context.Context, addr string, tls builder.TLS) (status, plats string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	have, err := builder.Probe(ctx, addr, tls)
	if err != nil {
		return "unreachable", "- (" + pipeline.OneLine(err) + ")"
	}
	var names []string
	for _, p := range have {
		names = append(names, platform.Format(p))
	}
	return "ok", strings.Join(names, ",")
}

func newBuilderStopCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop the buildkitd that mab started itself",
		Long: `Stop the buildkitd that mab started when it found no other builder. The
process named by the pid file in mab's state folder is signalled only when
it is buildkitd running with that state folder; otherwise the pid file is
stale: it is removed and nothing is signalled.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := builder.StopLocal()
			if err != nil {
				return err
			}
			printStop(cmd.ErrOrStderr(), res)
			return nil
		},
	}
}

// printStop says in one line what `mab builder stop` did.
func printStop(w io.Writer, res builder.StopResult) {
	switch {
	case res.Stopped:
		fmt.Fprintf(w, "stopped mab's buildkitd (pid %d)\n", res.PID)
	case res.Stale != "":
		fmt.Fprintf(w, "mab's buildkitd is not running: removed the stale pid file %s (%s)\n", res.PIDFile, res.Stale)
	default:
		fmt.Fprintln(w, "mab's buildkitd is not running")
	}
}
