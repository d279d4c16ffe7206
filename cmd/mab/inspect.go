package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/merge"
	"github.com/spf13/cobra"
)

func newInspectCmd() *cobra.Command {
	var format string
	var verify bool
	var plain plainHTTPFlags
	cmd := &cobra.Command{
		Use:   "inspect [flags] REF",
		Short: "Show the platforms of a tag",
		Long: `Show what REF holds: for an index (manifest list), one row per child with
its platform, digest, size and media type; attestation manifests are shown
as such. For a single image, its own platform.

--format raw prints the manifest exactly as the registry serves it.
--verify also reads each child's manifest and config and fails (exit 1)
when a descriptor does not match its manifest or a config does not
declare the platform it is listed under.

Text the registry supplies (platforms, media types, annotations) is shown
with control characters escaped (\x1b), in the table and in errors;
--format raw prints the registry's bytes as they are.

Plain HTTP is used for loopback registries, those named with
--insecure-registry, and, with --insecure, every registry of the command.`,
		Example: `  mab inspect registry.example.com/app:1.4
  mab inspect --format json registry.example.com/app:1.4
  mab inspect --format raw registry.example.com/app:1.4 | jq .
  mab inspect --verify registry.example.com/app:1.4
  mab inspect --insecure-registry 10.0.0.5:5000 10.0.0.5:5000/hello:dev`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" && format != "raw" {
				return fmt.Errorf("invalid --format %q: want table, json or raw", format)
			}
			if err := plain.check(); err != nil {
				return err
			}
			ref, err := name.ParseReference(args[0], plain.nameOptions(args[0])...)
			if err != nil {
				return fmt.Errorf("invalid reference %q: %w", args[0], err)
			}
			client := merge.New(plain.options()...)
			l, err := client.Inspect(cmd.Context(), ref)
			if err != nil {
				return advise(err, "inspect")
			}
			switch format {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				err = enc.Encode(l)
			case "raw":
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", l.Raw)
			default:
				printListing(cmd.OutOrStdout(), l)
			}
			if err != nil || !verify || !l.Index {
				return err
			}
			// The inspect's client: no second ping, no second token.
			return advise(client.Verify(cmd.Context(), ref.Context().Digest(l.Digest.String()), l.Digest), "inspect")
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json or raw")
	plain.add(cmd.Flags())
	cmd.Flags().BoolVar(&verify, "verify", false, "check each child's config against the platform it is listed under; exit 1 on a mismatch")
	return cmd
}

// printListing prints l as a table. Every registry-supplied string goes
// through merge.Printable (the platforms already have).
func printListing(w io.Writer, l *merge.Listing) {
	fmt.Fprintf(w, "%s\n%s  %s  %d bytes\n\n", merge.Printable(l.Ref), l.Digest, merge.Printable(string(l.MediaType)), l.Size)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tDIGEST\tSIZE\tMEDIA TYPE")
	for _, c := range l.Children {
		plat := c.Platform
		if c.Attestation {
			plat = "attestation for " + merge.Printable(shortDigest(c.ReferenceOf))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", plat, c.Digest, c.Size, merge.Printable(string(c.MediaType)))
	}
	tw.Flush()
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
