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
	"github.com/mab-build/mab/internal/platform"
	"github.com/spf13/cobra"
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
	return &cobra.Command{
		Use:     "ls",
		Short:   "Show each known endpoint, whether it answers, and its platforms",
		Example: "  mab builder ls\n  MAB_NODES=\"linux/arm64=tcp://arm-host:1234\" mab builder ls",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			known, err := builder.Known("", os.Getenv)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ENDPOINT\tSTATUS\tPLATFORMS")
			for _, e := range known {
				status, plats := probe(cmd.Context(), e)
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Address, status, plats)
			}
			return tw.Flush()
		},
	}
}

func probe(ctx context.Context, e builder.Endpoint) (status, plats string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	have, err := builder.Probe(ctx, e.Address, e.TLS)
	if err != nil {
		return "unreachable", "-"
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
