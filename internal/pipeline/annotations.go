package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/mab-build/mab/internal/platform"
	"github.com/mab-build/mab/merge"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The levels of an annotation, as buildx spells them before the colon of
// --annotation TYPE[PLATFORM]:KEY=VALUE.
const (
	LevelIndex              = "index"
	LevelManifest           = "manifest"
	LevelManifestDescriptor = "manifest-descriptor"
	LevelIndexDescriptor    = "index-descriptor"
)

// annotationType is one TYPE[PLATFORM] of a prefix: buildx's rule, one
// platform per bracket, of letters, digits, '_', '/' and '-'.
var annotationType = regexp.MustCompile(`^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$`)

// platformList is a bracket that holds a comma: several platforms in one
// bracket, which buildx's grammar does not have.
var platformList = regexp.MustCompile(`\[[^\]]*,`)

// Annotations are --annotation flags, parsed. Each flag is KEY=VALUE or
// TYPES:KEY=VALUE, where TYPES is one or more TYPE[PLATFORM] separated by
// commas (index,manifest-descriptor:k=v; manifest[linux/amd64],manifest[linux/arm64]:k=v),
// the grammar of `docker buildx build --annotation`. The value may hold
// '=' and ':'; the key may hold neither, nor spaces. A bare KEY=VALUE is
// kept apart: it is a manifest annotation for `mab build` (Manifest) and
// an index annotation for `mab merge` (ForMerge). The zero value holds
// none.
type Annotations struct {
	entries []annotation
}

// annotation is one level, platform, key and value of a flag.
type annotation struct {
	flag     string // the flag as given, for errors
	level    string
	bare     bool
	platform *ocispec.Platform // nil: every platform
	key      string
	value    string
}

// ParseAnnotations parses --annotation flags. Errors are one line and
// quote the flag: a missing '=', an empty key, a key with a space, an
// unknown TYPE, a bad or unknown platform, a platform on index or
// index-descriptor (which have one of each, not one per platform).
// index-descriptor is parsed (see IndexDescriptor); ForBuild and ForMerge
// refuse it.
func ParseAnnotations(flags []string) (Annotations, error) {
	var a Annotations
	for _, f := range flags {
		es, err := parseAnnotation(f)
		if err != nil {
			return Annotations{}, fmt.Errorf("invalid --annotation %s: %s", clip(f), err)
		}
		a.entries = append(a.entries, es...)
	}
	return a, nil
}

// parseAnnotation parses one flag into one entry per TYPE.
func parseAnnotation(f string) ([]annotation, error) {
	k, v, ok := strings.Cut(f, "=")
	if !ok {
		return nil, fmt.Errorf("want [TYPE[PLATFORM],…:]KEY=VALUE")
	}
	types, key, typed := strings.Cut(k, ":")
	if !typed {
		types, key = "", types
	}
	if key == "" {
		return nil, fmt.Errorf("empty key: want [TYPE[PLATFORM],…:]KEY=VALUE")
	}
	if strings.ContainsFunc(key, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return nil, fmt.Errorf("the key has a space or a control character")
	}
	if !typed {
		return []annotation{{flag: f, level: LevelManifest, bare: true, key: key, value: v}}, nil
	}
	if platformList.MatchString(types) {
		return nil, fmt.Errorf("one platform per bracket: write manifest[linux/amd64],manifest[linux/arm64]:KEY=VALUE")
	}
	var out []annotation
	for t := range strings.SplitSeq(types, ",") {
		m := annotationType.FindStringSubmatch(t)
		if m == nil {
			return nil, fmt.Errorf("type %s: want index, manifest, manifest-descriptor or index-descriptor, each with an optional [PLATFORM]", clipType(t))
		}
		e := annotation{flag: f, level: m[1], key: key, value: v}
		switch e.level {
		case LevelManifest, LevelManifestDescriptor:
		case LevelIndex, LevelIndexDescriptor:
			if m[2] != "" {
				return nil, fmt.Errorf("%s is one for the whole image, not one per platform: drop [%s]", e.level, m[2])
			}
		default:
			return nil, fmt.Errorf("unknown type %s: want index, manifest, manifest-descriptor or index-descriptor", clipType(e.level))
		}
		if len(m[2]) > 64 {
			return nil, fmt.Errorf("platform %s is too long to be one", clipType(m[2]))
		}
		if m[2] != "" {
			p, err := platform.Parse(m[2])
			if err != nil {
				return nil, err
			}
			e.platform = &p
		}
		out = append(out, e)
	}
	return out, nil
}

// clipType quotes a TYPE for an error, cut shorter than clip cuts: the
// flag it came from is quoted already.
func clipType(t string) string {
	if len(t) <= 24 {
		return strconv.Quote(t)
	}
	return strconv.Quote(t[:24]) + "…"
}

// Index is the index's own annotations (index:).
func (a Annotations) Index() map[string]string {
	return a.collect(LevelIndex, nil)
}

// Manifest is the image manifest annotations of platform p (bare and
// manifest:, with or without a platform naming p); one named for p wins
// over one for every platform, as in BuildKit.
func (a Annotations) Manifest(p ocispec.Platform) map[string]string {
	return a.collect(LevelManifest, &p)
}

// Descriptor is the annotations of platform p's descriptor in the index
// (manifest-descriptor:), platform-named ones winning like Manifest's.
func (a Annotations) Descriptor(p ocispec.Platform) map[string]string {
	return a.collect(LevelManifestDescriptor, &p)
}

// IndexDescriptor reports whether an index-descriptor: annotation was
// given: an annotation of the descriptor of mab's index in an index
// around it, which mab does not write.
func (a Annotations) IndexDescriptor() bool {
	for _, e := range a.entries {
		if e.level == LevelIndexDescriptor {
			return true
		}
	}
	return false
}

// collect is the annotations of level: those for every platform, then,
// when p is not nil, those for p. With p nil, platform-named ones are
// left out.
func (a Annotations) collect(level string, p *ocispec.Platform) map[string]string {
	out := map[string]string{}
	for _, pass := range []bool{false, true} {
		for _, e := range a.entries {
			if e.level != level || (e.platform != nil) != pass {
				continue
			}
			if e.platform != nil && (p == nil || !names(*e.platform, *p)) {
				continue
			}
			out[e.key] = e.value
		}
	}
	return out
}

// errIndexDescriptor is the reason index-descriptor is refused.
const errIndexDescriptor = "mab writes no index around its index, so there is no index descriptor to annotate (index: annotates the index itself)"

// ForBuild checks a for `mab build` of plats: index-descriptor is
// refused, and so is a platform that is not among plats.
func (a Annotations) ForBuild(plats []ocispec.Platform) error {
	for _, e := range a.entries {
		if e.level == LevelIndexDescriptor {
			return fmt.Errorf("invalid --annotation %s: %s", clip(e.flag), errIndexDescriptor)
		}
		if e.platform != nil && !slices.ContainsFunc(plats, func(p ocispec.Platform) bool { return names(*e.platform, p) }) {
			return fmt.Errorf("invalid --annotation %s: annotation for %s, which is not among --platform", clip(e.flag), platform.Format(*e.platform))
		}
	}
	return nil
}

// ForMerge is a for `mab merge`, which writes an index and rewrites no
// image: a bare KEY=VALUE is an index annotation (unlike `mab build`,
// where it annotates the manifests); manifest: and index-descriptor: are
// refused.
func (a Annotations) ForMerge() (Annotations, error) {
	out := Annotations{entries: make([]annotation, 0, len(a.entries))}
	for _, e := range a.entries {
		switch {
		case e.bare:
			e.level, e.bare = LevelIndex, false
		case e.level == LevelManifest:
			return Annotations{}, fmt.Errorf("invalid --annotation %s: mab merge does not rewrite images, so it cannot annotate their manifests (manifest-descriptor: annotates their entries in the index)", clip(e.flag))
		case e.level == LevelIndexDescriptor:
			return Annotations{}, fmt.Errorf("invalid --annotation %s: %s", clip(e.flag), errIndexDescriptor)
		}
		out.entries = append(out.entries, e)
	}
	return out, nil
}

// HasIndexLevel reports whether a puts anything into the index itself
// (index: or manifest-descriptor:), which only an OCI index can hold.
func (a Annotations) HasIndexLevel() bool {
	for _, e := range a.entries {
		if e.level == LevelIndex || e.level == LevelManifestDescriptor {
			return true
		}
	}
	return false
}

// MergeOptions are the merge call options that write a's index and
// manifest-descriptor annotations; none when a has neither.
func (a Annotations) MergeOptions() []merge.Option {
	var opts []merge.Option
	if idx := a.Index(); len(idx) > 0 {
		opts = append(opts, merge.WithAnnotations(idx))
	}
	var descs []merge.DescriptorAnnotations
	if all := a.collect(LevelManifestDescriptor, nil); len(all) > 0 {
		descs = append(descs, merge.DescriptorAnnotations{Annotations: all})
	}
	at := map[string]int{} // platform.Key → its place in descs
	for _, e := range a.entries {
		if e.level != LevelManifestDescriptor || e.platform == nil {
			continue
		}
		key := platform.Key(*e.platform)
		i, ok := at[key]
		if !ok {
			p := e.platform
			i, at[key] = len(descs), len(descs)
			descs = append(descs, merge.DescriptorAnnotations{
				Platform:    &v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
				Annotations: map[string]string{},
			})
		}
		descs[i].Annotations[e.key] = e.value
	}
	if len(descs) > 0 {
		opts = append(opts, merge.WithDescriptorAnnotations(descs...))
	}
	return opts
}

// names reports whether the platform q of a [PLATFORM] names p: the same
// platform, p's OS version and features aside (a bracket holds neither).
func names(q, p ocispec.Platform) bool {
	p.OSVersion, p.OSFeatures = q.OSVersion, q.OSFeatures
	return platform.Same(q, p)
}
