package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/internal/platform"
	"github.com/mab-build/mab/merge"
	"github.com/spf13/cobra"
)

// mergeFlags are the flags of mab merge.
type mergeFlags struct {
	tags        []string
	metadata    []string
	amend       bool
	mediaType   string
	annotations []string
	platforms   []string
	dryRun      bool
	plain       plainHTTPFlags
	force       bool
	format      string
	referrers   bool
}

func newMergeCmd() *cobra.Command {
	var f mergeFlags
	cmd := &cobra.Command{
		Use:   "merge -t TARGET [-t TARGET...] [flags] [SOURCE...]",
		Short: "Merge images into one multi-platform tag",
		Long: `Merge images and indexes into one index (manifest list) under TARGET.

A SOURCE is a tag or a digest reference, in any repository or registry,
optionally followed by =PLATFORM to say which platform it is for
(repo:1.4-armv7=linux/arm/v7). Each child is listed under the platform
its image config declares (os, architecture, variant, os.version,
os.features); an override that contradicts the config is refused unless
--force. A source that is itself an index is flattened, its attestation
manifests kept after the images. Two children of one platform are an error.

--from-metadata FILE adds the images of a metadata file, each by digest:
of one written by mab build --metadata-file, every platform's image with
its platform as the override (a platform that failed in that build, or
that has no digest, is refused); of one written by docker buildx build
--metadata-file, containerimage.digest in the repository of the first
name of image.name (or of the first -t), with the platform of
containerimage.descriptor when it has one. SOURCE arguments come first.

Sources outside TARGET's repository are copied into it first (blobs are
mounted when the registry allows). The index is written last, read back
and its digest compared. On any earlier error TARGET is left unchanged.

-t may be repeated: every TARGET gets the same index, byte for byte. The
children are copied into each TARGET's repository before the first TARGET
is written, so a registry that refuses the copy leaves every TARGET as it
was. Then the first TARGET is merged (and amended, with --amend) and read
back, and the others are written with that index and read back. When one
of them fails after the first was written, mab says which TARGETs hold
the index and which failed, prints the digest, and exits 3.

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

On success the digest of the index is printed once (--format digest), or
the index as a table or JSON (whose "tags" lists every TARGET). --dry-run
prints the exact index bytes instead, with no newline added (their sha256
is the digest), whatever --format says.`,
		Example: `  # arch tags pushed by separate CI jobs, merged into one tag
  mab merge -t registry.example.com/app:1.4 \
    registry.example.com/app:1.4-amd64 registry.example.com/app:1.4-arm64

  # add (or replace) one platform in an existing tag
  mab merge --amend -t registry.example.com/app:1.4 registry.example.com/app:1.4-armv7

  # an image whose config lacks the variant, and an OCI index with annotations
  mab merge -t registry.example.com/app:1.4 --media-type oci \
    --annotation org.opencontainers.image.source=https://example.com/app \
    registry.example.com/app:1.4-amd64 other.example.com/app@sha256:4f1c...=linux/arm/v7

  # one index under two tags, in two registries
  mab merge -t registry.example.com/app:1.4 -t mirror.example.com/team/app:1.4 \
    registry.example.com/app:1.4-amd64 registry.example.com/app:1.4-arm64

  # the images that separate CI jobs built, from their metadata files
  mab merge -t registry.example.com/app:1.4 \
    --from-metadata amd64.json --from-metadata arm64.json

  # see the index without pushing anything; its sha256 is its digest
  mab merge --dry-run -t registry.example.com/app:1.4 registry.example.com/app:1.4-amd64 | sha256sum`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, sources, opts, err := f.plan(args)
			if err != nil {
				return err
			}
			further, err := f.furtherTags(target)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			client := merge.New(append(f.plain.options(), merge.WithReferrers(f.referrers))...)
			if f.dryRun {
				idx, err := client.Assemble(ctx, target, sources, opts...)
				if err != nil {
					return advise(err, "merge")
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "dry run: %s would be %s (%s, %d bytes); nothing pushed\n", joinTags(append([]name.Tag{target}, further...)), idx.Digest, idx.MediaType, len(idx.Raw))
				// The index's bytes, nothing added: their sha256 is the digest.
				_, err = cmd.OutOrStdout().Write(idx.Raw)
				return err
			}
			if len(further) == 0 {
				pub, err := client.Merge(ctx, target, sources, opts...)
				if err != nil {
					return advise(err, "merge")
				}
				reportMerge(cmd.ErrOrStderr(), pub)
				return printPublished(cmd.OutOrStdout(), f.format, pub, []name.Tag{target})
			}
			pub, held, err := mergeTags(ctx, cmd.ErrOrStderr(), client, target, further, sources, opts)
			if pub == nil {
				return advise(err, "merge")
			}
			if perr := printPublished(cmd.OutOrStdout(), f.format, pub, held); perr != nil {
				return perr
			}
			return advise(err, "merge")
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.tags, "tag", "t", nil, "the tag to write the index to (required; repeatable: every tag gets the same index)")
	fl.StringArrayVar(&f.metadata, "from-metadata", nil, "add the images of a metadata file of mab build or docker buildx build, by digest (repeatable)")
	fl.BoolVar(&f.amend, "amend", false, "start from the index already at the tag: keep its platforms, replace those the sources provide")
	fl.StringVar(&f.mediaType, "media-type", "auto", "index media type: auto, oci or docker")
	fl.StringArrayVar(&f.annotations, "annotation", nil, "annotation [TYPE[PLATFORM],…:]KEY=VALUE, TYPE index (the default here) or manifest-descriptor (OCI index only; repeatable)")
	fl.StringSliceVar(&f.platforms, "platform", nil, "keep only these platforms of the sources (comma-separated or repeated)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the index that would be pushed, push nothing")
	f.plain.add(fl)
	fl.BoolVar(&f.force, "force", false, "let a SOURCE=PLATFORM override win over the image config")
	fl.StringVar(&f.format, "format", "digest", "result format: digest, table or json")
	fl.BoolVar(&f.referrers, "referrers", false, "with the children copied from other repositories, copy their OCI referrers too (signatures, SBOMs, attestations)")
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
	if len(f.tags) == 0 {
		return name.Tag{}, nil, nil, fmt.Errorf("no --tag: name the tag to write the index to")
	}
	target, err := parseTag(f.tags[0], f.plain)
	if err != nil {
		return name.Tag{}, nil, nil, err
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
	if len(args) == 0 && len(f.metadata) == 0 {
		return name.Tag{}, nil, nil, fmt.Errorf("no source: give SOURCE arguments, --from-metadata FILE, or both")
	}
	sources := make([]merge.Source, len(args))
	for i, a := range args {
		if sources[i], err = merge.ParseSource(a, f.plain.nameOptions(a)...); err != nil {
			return name.Tag{}, nil, nil, err
		}
	}
	for _, file := range f.metadata {
		more, err := pipeline.SourcesFromMetadata(file, target.Context(), f.plain.nameOptions)
		if err != nil {
			return name.Tag{}, nil, nil, printable(fmt.Errorf("--from-metadata %w", err))
		}
		sources = append(sources, more...)
	}
	opts := append([]merge.Option{
		merge.WithAmend(f.amend), merge.WithMediaType(mt),
		merge.WithPlatforms(plats...), merge.WithForce(f.force),
	}, annotations.MergeOptions()...)
	return target, sources, opts, nil
}

// mergeTags merges sources into target and gives further the same index,
// byte for byte. Before target is written, the children are copied into
// each further tag's repository (a refusal there leaves every tag as it
// was); then Merge writes target (amending it, with WithAmend) and reads
// it back, and Tag writes each further tag and reads it back. It returns
// the index and the tags that hold it, with a *tagsError when some of
// further failed after target was written; a nil index means no tag was
// written.
func mergeTags(ctx context.Context, log io.Writer, client *merge.Client, target name.Tag, further []name.Tag, sources []merge.Source, opts []merge.Option) (*merge.Published, []name.Tag, error) {
	// Every registry once, with every scope the steps below need.
	push := []name.Repository{target.Context()}
	for _, t := range further {
		push = append(push, t.Context())
	}
	var pull []name.Repository
	for _, s := range sources {
		pull = append(pull, s.Ref.Context())
	}
	if err := client.Authorize(ctx, push, pull); err != nil {
		return nil, nil, err
	}
	idx, err := client.Assemble(ctx, target, sources, opts...)
	if err != nil {
		return nil, nil, err
	}
	copied := map[string]bool{target.Context().Name(): true} // Merge copies into target's own
	for _, t := range further {
		if repo := t.Context(); !copied[repo.Name()] {
			if _, err := client.CopyTo(ctx, idx, repo); err != nil {
				return nil, nil, fmt.Errorf("no tag was written: %w", err)
			}
			copied[repo.Name()] = true
		}
	}
	pub, err := client.Merge(ctx, target, sources, opts...)
	if err != nil {
		return nil, nil, err
	}
	reportMerge(log, pub)
	held := []name.Tag{target}
	if pub.Digest != idx.Digest {
		// A source tag moved, or an amend met another writer's index: read
		// again what target now holds, to copy and tag exactly that.
		idx, err = client.Assemble(ctx, target, sources, opts...)
		if err == nil && idx.Digest != pub.Digest {
			err = fmt.Errorf("the index changed under mab: %s was written, the sources now give %s", pub.Digest, idx.Digest)
		}
		if err != nil {
			return pub, held, &tagsError{digest: pub.Digest, held: held, failed: further, err: err}
		}
		copied = map[string]bool{target.Context().Name(): true}
	}
	var failed []name.Tag
	var errs []error
	for _, t := range further {
		repo := t.Context()
		if !copied[repo.Name()] {
			if _, err := client.CopyTo(ctx, idx, repo); err != nil {
				failed, errs = append(failed, t), append(errs, err)
				continue
			}
			copied[repo.Name()] = true
		}
		if err := client.Tag(ctx, idx, t); err != nil {
			failed, errs = append(failed, t), append(errs, err)
			continue
		}
		fmt.Fprintf(log, "tagged %s\n", t)
		held = append(held, t)
	}
	if len(failed) > 0 {
		return pub, held, &tagsError{digest: pub.Digest, held: held, failed: failed, err: errors.Join(errs...)}
	}
	return pub, held, nil
}

// tagsError is a merge into several tags of which some hold the index and
// others failed after the first was written: published, but not
// everywhere (exit 3, as for a build whose later step failed).
type tagsError struct {
	digest v1.Hash
	held   []name.Tag
	failed []name.Tag
	err    error
}

func (e *tagsError) Error() string {
	return fmt.Sprintf("%s is published under %s, but not under %s: %v", e.digest, joinTags(e.held), joinTags(e.failed), e.err)
}

func (e *tagsError) Unwrap() error { return e.err }

// parseTag parses one --tag.
func parseTag(s string, plain plainHTTPFlags) (name.Tag, error) {
	t, err := name.NewTag(s, plain.nameOptions(s)...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("invalid --tag %q (want REGISTRY/REPO:TAG): %w", s, err)
	}
	return t, nil
}

// furtherTags are the --tag values after the first (target), parsed; a tag
// given twice is refused.
func (f mergeFlags) furtherTags(target name.Tag) ([]name.Tag, error) {
	seen := map[string]string{target.Name(): f.tags[0]}
	var out []name.Tag
	for _, s := range f.tags[1:] {
		t, err := parseTag(s, f.plain)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[t.Name()]; dup {
			return nil, fmt.Errorf("invalid --tag %q: the same tag as %q; give each tag once", s, first)
		}
		seen[t.Name()] = s
		out = append(out, t)
	}
	return out, nil
}

// reportMerge says on w what a merge did to its first tag: pushed, or, for
// an amend that found every child listed, unchanged (nothing written).
func reportMerge(w io.Writer, pub *merge.Published) {
	if pub.Unchanged {
		fmt.Fprintf(w, "unchanged %s: it lists every child already (%d children); nothing written\n", pub.Ref, len(pub.Manifest.Manifests))
		return
	}
	fmt.Fprintf(w, "pushed %s: %d children, %d copied from other repositories\n", pub.Ref, len(pub.Manifest.Manifests), pub.Copied)
}

// printPublished writes the result of a merge under tags in format.
func printPublished(w io.Writer, format string, pub *merge.Published, tags []name.Tag) error {
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = t.String()
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Ref       string            `json:"ref"`
			Tags      []string          `json:"tags"`
			Digest    string            `json:"digest"`
			MediaType string            `json:"mediaType"`
			Size      int64             `json:"size"`
			Copied    int               `json:"copied"`
			Unchanged bool              `json:"unchanged"`
			Attempts  int               `json:"attempts"`
			Index     *v1.IndexManifest `json:"index"`
		}{pub.Ref.String(), names, pub.Digest.String(), string(pub.MediaType), pub.Size, pub.Copied, pub.Unchanged, pub.Attempts, pub.Manifest})
	case "table":
		for _, n := range names {
			fmt.Fprintln(w, merge.Printable(n))
		}
		fmt.Fprintf(w, "%s  %s  %d bytes\n\n", pub.Digest, merge.Printable(string(pub.MediaType)), pub.Size)
		children := make([]merge.Child, len(pub.Manifest.Manifests))
		for i, d := range pub.Manifest.Manifests {
			children[i] = merge.ChildOf(d)
		}
		printChildren(w, children)
		return nil
	default:
		_, err := fmt.Fprintln(w, pub.Digest)
		return err
	}
}

func joinTags(tags []name.Tag) string {
	s := make([]string, len(tags))
	for i, t := range tags {
		s[i] = t.String()
	}
	return strings.Join(s, ", ")
}
