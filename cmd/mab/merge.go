package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/internal/platform"
	"github.com/mab-build/mab/merge"
	"github.com/spf13/cobra"
)

// mergeFlags are the flags of mab merge.
type mergeFlags struct {
	target      string
	amend       bool
	mediaType   string
	annotations []string
	platforms   []string
	dryRun      bool
	plain       plainHTTPFlags
	force       bool
	format      string
}

func newMergeCmd() *cobra.Command {
	var f mergeFlags
	cmd := &cobra.Command{
		Use:   "merge -t TARGET [flags] SOURCE...",
		Short: "Merge images into one multi-platform tag",
		Long: `Merge images and indexes into one index (manifest list) under TARGET.

A SOURCE is a tag or a digest reference, in any repository or registry,
optionally followed by =PLATFORM to say which platform it is for
(repo:1.4-armv7=linux/arm/v7). Each child is listed under the platform
its image config declares (os, architecture, variant, os.version,
os.features); an override that contradicts the config is refused unless
--force. A source that is itself an index is flattened, its attestation
manifests kept after the images. Two children of one platform are an error.

Sources outside TARGET's repository are copied into it first (blobs are
mounted when the registry allows). The index is written last, read back
and its digest compared. On any earlier error TARGET is left unchanged.

--media-type auto writes a Docker manifest list when every child is a
Docker v2 manifest and no --annotation is given, an OCI index otherwise.

Credentials come from the Docker config and its credential helpers
(docker login). Plain HTTP is used for loopback registries, for those named
with --insecure-registry, and, with --insecure, for every registry and
token server of the command. Requests failing with 408, 429, 5xx, a dropped
connection or a timeout are sent at most 5 times in all, honouring a
Retry-After of up to 1 minute (a longer one fails at once, saying so). A
registry that sends nothing for 30 s, or takes over 2 minutes for a request
other than a blob transfer, times out. Manifests and indexes over 4 MiB and
configs over 8 MiB are refused, and so is a source index whose child
descriptor (digest, size, media type) does not match the manifest served.

--amend keeps the platforms already at TARGET and replaces those the
sources provide; if another job changes TARGET meanwhile, mab starts over
from a fresh read so neither job's platforms are lost.

On success the digest of the index is printed (--format digest), or the
index as a table or JSON. --dry-run prints the exact index bytes instead,
whatever --format says.`,
		Example: `  # arch tags pushed by separate CI jobs, merged into one tag
  mab merge -t registry.example.com/app:1.4 \
    registry.example.com/app:1.4-amd64 registry.example.com/app:1.4-arm64

  # add (or replace) one platform in an existing tag
  mab merge --amend -t registry.example.com/app:1.4 registry.example.com/app:1.4-armv7

  # an image whose config lacks the variant, and an OCI index with annotations
  mab merge -t registry.example.com/app:1.4 --media-type oci \
    --annotation org.opencontainers.image.source=https://example.com/app \
    registry.example.com/app:1.4-amd64 other.example.com/app@sha256:4f1c...=linux/arm/v7

  # see the index without pushing anything
  mab merge --dry-run -t registry.example.com/app:1.4 registry.example.com/app:1.4-amd64`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, sources, opts, err := f.plan(args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			client := merge.New(f.plain.options()...)
			if f.dryRun {
				idx, err := client.Assemble(ctx, target, sources, opts...)
				if err != nil {
					return advise(err, "merge")
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "dry run: %s would be %s (%s, %d bytes); nothing pushed\n", target, idx.Digest, idx.MediaType, len(idx.Raw))
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", idx.Raw)
				return err
			}
			pub, err := client.Merge(ctx, target, sources, opts...)
			if err != nil {
				return advise(err, "merge")
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "pushed %s: %d children, %d copied from other repositories\n", target, len(pub.Manifest.Manifests), pub.Copied)
			return printPublished(cmd.OutOrStdout(), f.format, pub)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.target, "tag", "t", "", "the tag to write the index to (required)")
	fl.BoolVar(&f.amend, "amend", false, "start from the index already at the tag: keep its platforms, replace those the sources provide")
	fl.StringVar(&f.mediaType, "media-type", "auto", "index media type: auto, oci or docker")
	fl.StringArrayVar(&f.annotations, "annotation", nil, "annotation [TYPE[PLATFORM],…:]KEY=VALUE, TYPE index (the default here) or manifest-descriptor (OCI index only; repeatable)")
	fl.StringSliceVar(&f.platforms, "platform", nil, "keep only these platforms of the sources (comma-separated or repeated)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the index that would be pushed, push nothing")
	f.plain.add(fl)
	fl.BoolVar(&f.force, "force", false, "let a SOURCE=PLATFORM override win over the image config")
	fl.StringVar(&f.format, "format", "digest", "result format: digest, table or json")
	cmd.MarkFlagRequired("tag")
	return cmd
}

// plan checks every flag and argument before any registry is dialled, and
// returns the options of the merge call (--insecure and
// --insecure-registry are the client's).
// Platforms, of --platform and of SOURCE=PLATFORM, follow the rules of
// `mab build --platform`.
func (f mergeFlags) plan(args []string) (name.Tag, []merge.Source, []merge.Option, error) {
	if err := f.plain.check(); err != nil {
		return name.Tag{}, nil, nil, err
	}
	target, err := name.NewTag(f.target, f.plain.nameOptions(f.target)...)
	if err != nil {
		return name.Tag{}, nil, nil, fmt.Errorf("invalid --tag %q (want REGISTRY/REPO:TAG): %w", f.target, err)
	}
	switch f.format {
	case "digest", "table", "json":
	default:
		return name.Tag{}, nil, nil, fmt.Errorf("invalid --format %q: want digest, table or json", f.format)
	}
	mt := merge.MediaType(f.mediaType)
	switch mt {
	case merge.MediaTypeAuto, merge.MediaTypeOCI, merge.MediaTypeDocker:
	default:
		return name.Tag{}, nil, nil, fmt.Errorf("invalid --media-type %q: want auto, oci or docker", f.mediaType)
	}
	annotations, err := pipeline.ParseAnnotations(f.annotations)
	if err == nil {
		annotations, err = annotations.ForMerge()
	}
	if err != nil {
		return name.Tag{}, nil, nil, err
	}
	if annotations.HasIndexLevel() && mt == merge.MediaTypeDocker {
		return name.Tag{}, nil, nil, fmt.Errorf("--annotation needs an OCI index: a Docker manifest list and its descriptors have no annotations (use --media-type oci or auto)")
	}
	parsed, err := platform.ParseList(f.platforms)
	if err != nil {
		return name.Tag{}, nil, nil, fmt.Errorf("invalid --platform: %w", err)
	}
	plats := make([]v1.Platform, len(parsed))
	for i, p := range parsed {
		plats[i] = v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures}
	}
	sources := make([]merge.Source, len(args))
	for i, a := range args {
		if sources[i], err = merge.ParseSource(a, f.plain.nameOptions(a)...); err != nil {
			return name.Tag{}, nil, nil, err
		}
	}
	opts := append([]merge.Option{
		merge.WithAmend(f.amend), merge.WithMediaType(mt),
		merge.WithPlatforms(plats...), merge.WithForce(f.force),
	}, annotations.MergeOptions()...)
	return target, sources, opts, nil
}

// printPublished writes the result of a merge in format.
func printPublished(w io.Writer, format string, pub *merge.Published) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Ref       string            `json:"ref"`
			Digest    string            `json:"digest"`
			MediaType string            `json:"mediaType"`
			Size      int64             `json:"size"`
			Copied    int               `json:"copied"`
			Attempts  int               `json:"attempts"`
			Index     *v1.IndexManifest `json:"index"`
		}{pub.Ref.String(), pub.Digest.String(), string(pub.MediaType), pub.Size, pub.Copied, pub.Attempts, pub.Manifest})
	case "table":
		l := &merge.Listing{Ref: pub.Ref.String(), Digest: pub.Digest, MediaType: pub.MediaType, Size: pub.Size, Index: true}
		for _, d := range pub.Manifest.Manifests {
			l.Children = append(l.Children, merge.ChildOf(d))
		}
		printListing(w, l)
		return nil
	default:
		_, err := fmt.Fprintln(w, pub.Digest)
		return err
	}
}
