package main

import (
	"fmt"

	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/merge"
	"github.com/spf13/cobra"
)

// saveFlags are the flags of mab save.
type saveFlags struct {
	platforms []string
	tar       bool
	force     bool
	plain     plainHTTPFlags
}

func newSaveCmd() *cobra.Command {
	var f saveFlags
	cmd := &cobra.Command{
		Use:   "save [flags] REF DEST",
		Short: "Write a multi-platform image from a registry into one OCI archive",
		Long: `Write what REF holds (an index with every platform, or one image) into
DEST, an OCI archive (--tar=false: an OCI layout folder), with every
child manifest, config, layer and attestation manifest: what
mab build --output type=oci writes, for an image already in a registry.
skopeo copy oci-archive:DEST, ctr images import --all-platforms and
docker load read it.

Without --platform the index is kept byte for byte: the archive holds the
digest the registry serves. --platform keeps only some images (and their
attestations): the archive then holds a new index that lists those, with
a digest of its own; a platform the index lacks is an error.

The archive names the image REF (io.containerd.image.name and
org.opencontainers.image.ref.name) when REF has a tag. It is written to a
temporary file beside DEST and renamed; an existing DEST is refused
unless --force. The index digest is printed on stdout.

Plain HTTP is used for loopback registries, those named with
--insecure-registry, and, with --insecure, every registry of the command.`,
		Example: `  mab save registry.example.com/app:1.4 app.tar
  mab save --platform linux/arm64,linux/arm/v7 registry.example.com/app:1.4 app-arm.tar
  mab save --tar=false --force registry.example.com/app:1.4 app-layout
  skopeo copy --all oci-archive:app.tar docker://other.example.com/app:1.4`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return advise(f.run(cmd, args[0], args[1]), "save")
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.platforms, "platform", nil, "keep only these platforms, comma-separated or repeated (a new index lists them)")
	fl.BoolVar(&f.tar, "tar", true, "write one tar archive; false writes an OCI layout folder DEST")
	fl.BoolVar(&f.force, "force", false, "replace what is at DEST")
	f.plain.add(fl)
	return cmd
}

// run saves ref into dest.
func (f saveFlags) run(cmd *cobra.Command, ref, dest string) error {
	if err := f.plain.check(); err != nil {
		return err
	}
	p, err := pipeline.NewSavePlan(pipeline.SaveOptions{
		Ref: ref, Dest: dest, Tar: f.tar, Force: f.force, Platforms: f.platforms, NameOptions: f.plain.nameOptions(ref),
	})
	if err != nil {
		return err
	}
	s, err := pipeline.Save(cmd.Context(), merge.New(f.plain.options()...), p)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s %s: index %s (%s)\n", p.Dest.Kind(), p.Dest.Path, s.Index.Digest, p.Note(s))
	fmt.Fprintln(cmd.OutOrStdout(), s.Index.Digest)
	return nil
}
