package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/mab-build/mab/merge"
	"github.com/spf13/cobra"
)

// inspectFlags are the flags of mab inspect.
type inspectFlags struct {
	format   string
	platform string
	verify   bool
	plain    plainHTTPFlags
}

// inspectPlan is what the flags and the argument ask for, checked before
// any registry is dialled.
type inspectPlan struct {
	ref      name.Reference
	platform *v1.Platform       // --platform, nil for every child
	tmpl     *template.Template // a --format template, nil for a named format
}

func newInspectCmd() *cobra.Command {
	var f inspectFlags
	cmd := &cobra.Command{
		Use:   "inspect [flags] REF",
		Short: "Show the platforms of a tag",
		Long: `Show what REF holds: for an index (manifest list), one row per child with
its platform, digest, size and media type; attestation manifests are shown
as such. For a single image, its own platform.

--format raw prints the manifest exactly as the registry serves it, byte
for byte (no newline is added: its sha256 is the digest). --format digest
prints the digest of what REF holds.

--platform picks one child of an index (linux/arm64, aarch64, linux/arm/v7;
a variant or OS version left out matches any when only one child matches):
--format digest then prints that child's digest, --format raw its
manifest, and the other formats list only that child. A platform the index
lacks is an error that lists what it has. On a single image, --platform
must agree with its config.

--format also takes a Go template (text/template), as docker buildx
imagetools inspect and regctl do. Its data is the listing:
  .Ref .Digest .MediaType .Size .Index .Raw   what REF holds (.Index is
                                              false for a single image)
  .Children                                   the entries, in order; each
                                              has .Platform .Digest .Size
                                              .MediaType .Annotations
                                              .Attestation .ReferenceOf
.Raw is bytes: print it with {{printf "%s" .Raw}}. Functions: json (the
value as JSON, e.g. {{json .}}) and join (join LIST SEP). A newline ends
the output unless it is empty or already ends with one.
Template output is not escaped; the table and errors show control
characters that registries supply escaped (\x1b).

--verify also reads each child's manifest and config and fails (exit 1)
when a descriptor does not match its manifest or a config does not
declare the platform it is listed under.

Plain HTTP is used for loopback registries, those named with
--insecure-registry, and, with --insecure, every registry of the command.`,
		Example: `  mab inspect registry.example.com/app:1.4
  mab inspect --format json registry.example.com/app:1.4
  mab inspect --format raw registry.example.com/app:1.4 | sha256sum
  mab inspect --platform linux/arm64 --format digest registry.example.com/app:1.4
  mab inspect --format '{{range .Children}}{{.Platform}} {{.Digest}}{{"\n"}}{{end}}' registry.example.com/app:1.4
  mab inspect --verify registry.example.com/app:1.4
  mab inspect --insecure-registry 10.0.0.5:5000 10.0.0.5:5000/hello:dev`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := f.plan(args[0])
			if err != nil {
				return err
			}
			client := merge.New(f.plain.options()...)
			l, err := client.Inspect(cmd.Context(), p.ref)
			if err != nil {
				return advise(err, "inspect")
			}
			shown := l
			if p.platform != nil {
				if shown, err = l.ForPlatform(*p.platform); err != nil {
					return advise(err, "inspect")
				}
			}
			if err := f.print(cmd, client, p, l, shown); err != nil || !f.verify || !l.Index {
				return err
			}
			// The inspect's client: no second ping, no second token.
			return advise(client.Verify(cmd.Context(), p.ref.Context().Digest(l.Digest.String()), l.Digest), "inspect")
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "table", "output format: table, json, raw, digest, or a Go template such as '{{.Digest}}'")
	fl.StringVar(&f.platform, "platform", "", "show only this platform's child of the index (e.g. linux/arm64)")
	f.plain.add(fl)
	fl.BoolVar(&f.verify, "verify", false, "check each child's config against the platform it is listed under; exit 1 on a mismatch")
	return cmd
}

// plan checks the flags and the reference.
func (f inspectFlags) plan(arg string) (inspectPlan, error) {
	var p inspectPlan
	switch {
	case f.format == "table" || f.format == "json" || f.format == "raw" || f.format == "digest":
	case strings.Contains(f.format, "{{"):
		t, err := template.New("format").Funcs(templateFuncs).Parse(f.format)
		if err != nil {
			return p, fmt.Errorf("invalid --format template: %w", err)
		}
		p.tmpl = t
	default:
		return p, fmt.Errorf("invalid --format %q: want table, json, raw, digest or a Go template such as '{{.Digest}}'", f.format)
	}
	if f.platform != "" {
		plat, err := merge.ParsePlatform(f.platform)
		if err != nil {
			return p, fmt.Errorf("invalid --platform: %w", err)
		}
		p.platform = &plat
	}
	if err := f.plain.check(); err != nil {
		return p, err
	}
	ref, err := name.ParseReference(arg, f.plain.nameOptions(arg)...)
	if err != nil {
		return p, fmt.Errorf("invalid reference %q: %w", arg, err)
	}
	p.ref = ref
	return p, nil
}

// print writes shown (l, or the child --platform picked) in --format.
func (f inspectFlags) print(cmd *cobra.Command, client *merge.Client, p inspectPlan, l, shown *merge.Listing) error {
	w := cmd.OutOrStdout()
	picked := p.platform != nil
	switch {
	case p.tmpl != nil:
		var b bytes.Buffer
		if err := p.tmpl.Execute(&b, shown); err != nil {
			return fmt.Errorf("--format template: %w", err)
		}
		if b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
			b.WriteByte('\n')
		}
		_, err := w.Write(b.Bytes())
		return err
	case f.format == "digest" && picked:
		_, err := fmt.Fprintln(w, shown.Children[0].Digest)
		return err
	case f.format == "digest":
		_, err := fmt.Fprintln(w, l.Digest)
		return err
	case f.format == "raw" && picked && l.Index:
		child, err := client.Inspect(cmd.Context(), p.ref.Context().Digest(shown.Children[0].Digest.String()))
		if err != nil {
			return advise(err, "inspect")
		}
		_, err = w.Write(child.Raw)
		return err
	case f.format == "raw":
		// The registry's bytes, nothing added: their sha256 is the digest.
		_, err := w.Write(l.Raw)
		return err
	case f.format == "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(shown)
	}
	printListing(w, shown)
	return nil
}

// templateFuncs are the functions of --format templates, named as in
// docker's templates.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join": strings.Join,
}

// printListing prints l as a table. Every registry-supplied string goes
// through merge.Printable (the platforms already have).
func printListing(w io.Writer, l *merge.Listing) {
	fmt.Fprintf(w, "%s\n%s  %s  %d bytes\n\n", merge.Printable(l.Ref), l.Digest, merge.Printable(string(l.MediaType)), l.Size)
	printChildren(w, l.Children)
}

// printChildren prints the table of an index's children.
func printChildren(w io.Writer, children []merge.Child) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLATFORM\tDIGEST\tSIZE\tMEDIA TYPE")
	for _, c := range children {
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
