package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/mab-build/mab/merge"
)

// maxMetadataSize bounds what SourcesFromMetadata reads: a metadata file
// is a few kilobytes; a path to a device or a huge file is refused, not
// read to its end.
const maxMetadataSize = 4 << 20

// sha256Digest is the only digest form that mab merges.
var sha256Digest = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// metadataSources is what SourcesFromMetadata decodes of a metadata file:
// the keys of mab's own (see Metadata; "ref" is a platform's image by
// digest, absent from files of older mab versions) and those of `docker
// buildx build --metadata-file`. mab's files may carry buildx's keys too;
// "platforms" decides which kind a file is.
type metadataSources struct {
	Final     string          `json:"final"`
	Stage     string          `json:"stage"`
	Platforms json.RawMessage `json:"platforms"`

	Digest     string              `json:"containerimage.digest"`
	ImageName  string              `json:"image.name"`
	Descriptor *metadataDescriptor `json:"containerimage.descriptor"`
}

// metadataPlatform is one entry of mab's "platforms".
type metadataPlatform struct {
	Platform string `json:"platform"`
	Ref      string `json:"ref"`
	Digest   string `json:"digest"`
	Error    string `json:"error"`
}

// metadataDescriptor is what mab reads of buildx's
// "containerimage.descriptor" (it also has mediaType, size, annotations).
type metadataDescriptor struct {
	Digest   string       `json:"digest"`
	Platform *v1.Platform `json:"platform"`
}

// SourcesFromMetadata reads a metadata file written by `mab build
// --metadata-file` or by `docker buildx build --metadata-file` and
// returns the images it names as merge sources, each by digest.
//
// A mab file (it has "platforms") gives one source per platform: its
// "ref" (or, in files without one, the repository of "final") at its
// "digest", with the platform as the source's Platform, so merge checks
// it against the image config. A platform that failed or has no digest
// is refused: its image was never pushed whole.
//
// A buildx file (it has "containerimage.digest") gives one source: the
// repository of the first name of "image.name" (names are joined by
// commas and may be NAME@DIGEST), or fallback when there is none, at
// "containerimage.digest"; the platform of "containerimage.descriptor",
// when it has one, is the source's Platform.
//
// Anything else is refused with an error that names path: a file that
// is neither kind, is not JSON or cannot be read, and a digest that is
// not sha256: and 64 lowercase hex digits. nameOpts, when not nil, gives
// the options to parse each reference with (name.Insecure for a
// plain-HTTP registry); fallback may be the zero Repository.
func SourcesFromMetadata(path string, fallback name.Repository, nameOpts func(ref string) []name.Option) ([]merge.Source, error) {
	if nameOpts == nil {
		nameOpts = func(string) []name.Option { return nil }
	}
	raw, err := readMetadata(path)
	if err != nil {
		return nil, err
	}
	var m metadataSources
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: not a metadata file: %w", path, err)
	}
	switch {
	case m.Platforms != nil:
		return m.mabSources(path, fallback, nameOpts)
	case m.Digest != "":
		src, err := m.buildxSource(path, fallback, nameOpts)
		if err != nil {
			return nil, err
		}
		return []merge.Source{src}, nil
	}
	return nil, fmt.Errorf(`%s: neither mab's metadata file (no "platforms") nor buildx's (no "containerimage.digest")`, path)
}

// readMetadata reads path, refusing a file over maxMetadataSize.
func readMetadata(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	if len(raw) > maxMetadataSize {
		return nil, fmt.Errorf("%s: over %d MiB: not a metadata file", path, maxMetadataSize>>20)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, fmt.Errorf("%s: empty: not a metadata file", path)
	}
	return raw, nil
}

// mabSources are the platforms of a mab metadata file.
func (m metadataSources) mabSources(path string, fallback name.Repository, nameOpts func(string) []name.Option) ([]merge.Source, error) {
	var plats []metadataPlatform
	if err := json.Unmarshal(m.Platforms, &plats); err != nil {
		return nil, fmt.Errorf(`%s: "platforms": %w`, path, err)
	}
	if len(plats) == 0 {
		return nil, fmt.Errorf("%s: lists no platform (the build stopped at stage %q)", path, merge.Printable(m.Stage))
	}
	out := make([]merge.Source, len(plats))
	for i, p := range plats {
		show := merge.Printable(p.Platform)
		switch {
		case p.Error != "":
			return nil, fmt.Errorf("%s: %s failed in that build: %s", path, show, merge.Printable(p.Error))
		case p.Digest == "":
			return nil, fmt.Errorf("%s: %s has no digest: that build did not push it (it stopped at stage %q)", path, show, merge.Printable(m.Stage))
		}
		if err := checkDigest(p.Digest); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, show, err)
		}
		plat, err := merge.ParsePlatform(p.Platform)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		repo, err := m.repository(p, fallback, nameOpts)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, show, err)
		}
		out[i] = merge.Source{Ref: repo.Digest(p.Digest), Platform: &plat}
	}
	return out, nil
}

// repository is where p's image lives: the repository of its "ref", else
// of the file's "final", else fallback. A ref by digest must name p's
// digest.
func (m metadataSources) repository(p metadataPlatform, fallback name.Repository, nameOpts func(string) []name.Option) (name.Repository, error) {
	if p.Ref != "" {
		ref, err := name.ParseReference(p.Ref, nameOpts(p.Ref)...)
		if err != nil {
			return name.Repository{}, fmt.Errorf("invalid ref %q: %w", merge.Printable(p.Ref), err)
		}
		if d, ok := ref.(name.Digest); ok && d.DigestStr() != p.Digest {
			return name.Repository{}, fmt.Errorf("ref %s does not name its digest %s", merge.Printable(p.Ref), p.Digest)
		}
		return ref.Context(), nil
	}
	if m.Final != "" {
		ref, err := name.ParseReference(m.Final, nameOpts(m.Final)...)
		if err != nil {
			return name.Repository{}, fmt.Errorf("invalid final %q: %w", merge.Printable(m.Final), err)
		}
		return ref.Context(), nil
	}
	if fallback.RepositoryStr() == "" {
		return name.Repository{}, errors.New(`neither "ref" nor "final" says which repository holds it`)
	}
	return fallback, nil
}

// buildxSource is the image of a buildx metadata file.
func (m metadataSources) buildxSource(path string, fallback name.Repository, nameOpts func(string) []name.Option) (merge.Source, error) {
	if err := checkDigest(m.Digest); err != nil {
		return merge.Source{}, fmt.Errorf("%s: containerimage.digest: %w", path, err)
	}
	d := m.Descriptor
	if d != nil && d.Digest != "" && d.Digest != m.Digest {
		return merge.Source{}, fmt.Errorf("%s: containerimage.descriptor names %s, containerimage.digest %s", path, merge.Printable(d.Digest), m.Digest)
	}
	repo := fallback
	if first, _, _ := strings.Cut(m.ImageName, ","); strings.TrimSpace(first) != "" {
		first = strings.TrimSpace(first)
		ref, err := name.ParseReference(first, nameOpts(first)...)
		if err != nil {
			return merge.Source{}, fmt.Errorf("%s: image.name %q: %w", path, merge.Printable(first), err)
		}
		repo = ref.Context()
	}
	if repo.RepositoryStr() == "" {
		return merge.Source{}, fmt.Errorf("%s: no image.name says which repository holds %s (pass -t)", path, m.Digest)
	}
	src := merge.Source{Ref: repo.Digest(m.Digest)}
	if d != nil && d.Platform != nil {
		p, err := descriptorPlatform(*d.Platform)
		if err != nil {
			return merge.Source{}, fmt.Errorf("%s: containerimage.descriptor: %w", path, err)
		}
		src.Platform = &p
	}
	return src, nil
}

// descriptorPlatform normalises a descriptor's platform by mab's rules
// (ParsePlatform), keeping its OS version and features.
func descriptorPlatform(p v1.Platform) (v1.Platform, error) {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	out, err := merge.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}, err
	}
	out.OSVersion, out.OSFeatures = p.OSVersion, p.OSFeatures
	return out, nil
}

// checkDigest refuses a digest other than sha256: and 64 lowercase hex
// digits.
func checkDigest(d string) error {
	if !sha256Digest.MatchString(d) {
		return fmt.Errorf("invalid digest %q: want sha256: and 64 hex digits", merge.Printable(d))
	}
	return nil
}
