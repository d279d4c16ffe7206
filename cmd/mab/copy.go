package main

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/merge"
	"github.com/spf13/cobra"
)

func newCopyCmd() *cobra.Command {
	var plain plainHTTPFlags
	var referrers bool
	cmd := &cobra.Command{
		Use:   "copy [flags] SRC DST",
		Short: "Copy an image or index to another repository or registry, digest unchanged",
		Long: `Copy the image or index SRC (a tag or a digest reference) to DST, byte for
byte: the index, every child (images and attestation manifests) and every
blob, so DST serves the very digest SRC does. Nothing is re-assembled or
re-encoded: a promotion from a staging registry to a production one keeps
what was tested, and what was signed.

--referrers also copies the OCI referrers of the index and of each child
(cosign signatures, SBOMs, attestations attached with cosign attach or oras
attach, and the referrers of those), found through the registry's
referrers API or, where it has none, the sha256-<hex> referrers tag; in
DST's repository they are listed the same way. cosign's own tags of the
index and of each child (sha256-<hex>.sig, .att, .sbom) are copied too.

DST is REPO:TAG; REPO alone takes SRC's tag (a SRC given by digest is then
copied by digest only, no tag written); REPO@DIGEST copies by digest and
writes no tag. DST's tag is written last, when every manifest, blob and
referrer is there, and read back: a failure before leaves it as it was.
Copying onto itself is refused.

The digest is printed on stdout, a summary on stderr. Credentials come
from the Docker config and its credential helpers (docker login); plain
HTTP is used for loopback registries, those named with
--insecure-registry, and, with --insecure, every registry of the command.
Failed requests are retried as for mab merge.`,
		Example: `  # promote a tested image from staging to production, with its signatures and SBOMs
  mab copy --referrers staging.example.com/app:1.4 registry.example.com/app:1.4

  # the same tag in another registry
  mab copy --referrers staging.example.com/app:1.4 registry.example.com/team/app

  # by digest, with no tag written
  mab copy staging.example.com/app@sha256:4f1c... registry.example.com/app@sha256:4f1c...`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := plain.check(); err != nil {
				return err
			}
			src, err := name.ParseReference(args[0], plain.nameOptions(args[0])...)
			if err != nil {
				return printable(fmt.Errorf("invalid SRC %q: %w", args[0], err))
			}
			dst, err := copyTarget(args[1], src, plain)
			if err != nil {
				return printable(err)
			}
			client := merge.New(plain.options()...)
			res, err := client.Copy(cmd.Context(), src, dst, merge.WithReferrers(referrers))
			if err != nil {
				return advise(err, "copy")
			}
			msg := fmt.Sprintf("copied %s to %s: %d manifests", src, res.Dst, res.Manifests)
			if referrers {
				msg += fmt.Sprintf(", %d referrers", res.Referrers)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), merge.Printable(msg))
			_, err = fmt.Fprintln(cmd.OutOrStdout(), res.Digest)
			return err
		},
	}
	f := cmd.Flags()
	f.BoolVar(&referrers, "referrers", false, "also copy the OCI referrers (signatures, SBOMs, attestations) of the index and of each child")
	plain.add(f)
	return cmd
}

// copyTarget parses DST: REPO:TAG, REPO@DIGEST, or REPO, which takes
// SRC's tag (or SRC's digest, when SRC is a digest reference).
func copyTarget(s string, src name.Reference, plain plainHTTPFlags) (name.Reference, error) {
	opts := plain.nameOptions(s)
	if strings.Contains(s, "@") {
		d, err := name.NewDigest(s, opts...)
		if err != nil {
			return nil, fmt.Errorf("invalid DST %q: %w", s, err)
		}
		return d, nil
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		t, err := name.NewTag(s, opts...)
		if err != nil {
			return nil, fmt.Errorf("invalid DST %q: %w", s, err)
		}
		return t, nil
	}
	repo, err := name.NewRepository(s, opts...)
	if err != nil {
		return nil, fmt.Errorf("invalid DST %q: want REPO, REPO:TAG or REPO@DIGEST: %w", s, err)
	}
	switch r := src.(type) {
	case name.Tag:
		return repo.Tag(r.TagStr()), nil
	case name.Digest:
		return repo.Digest(r.DigestStr()), nil
	}
	return nil, fmt.Errorf("invalid SRC %s", src)
}
