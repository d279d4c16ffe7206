package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
	"github.com/mab-build/mab/merge"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultSuffix is the template of an arch tag: app:1.4 → app:1.4-arm64,
// app:1.4-armv7.
const DefaultSuffix = "{{.Tag}}-{{.Arch}}{{.Variant}}"

// ProgressModes are the accepted values of --progress.
var ProgressModes = []string{"auto", "plain", "tty", "quiet", "rawjson"}

// Options are the flags of `mab build`, as the user typed them.
type Options struct {
	Platforms []string
	// Tags are the -t values: the first is the final tag (arch tags are
	// derived from it), the others get the same index after it.
	Tags       []string
	ContextDir string
	// Dockerfile is relative to the working directory; empty means
	// CONTEXT/Dockerfile.
	Dockerfile string
	BuildArgs  []string
	// Builder is the BuildKit address; empty means $BUILDKIT_HOST, then
	// whatever builder.Discover finds.
	Builder  string
	Insecure bool
	// InsecureRegistries allow plain HTTP to these registries only
	// (HOST or HOST:PORT): the final tag's, for BuildKit's push and mab's
	// merge; loopback registries are allowed by the merge anyway.
	InsecureRegistries []string
	// Registry are options of the registry client that publishes (they
	// may repeat Insecure and InsecureRegistries): timeouts, for one.
	Registry []merge.Option
	Progress string
	// Suffix is the arch tag template; empty means DefaultSuffix.
	Suffix string

	Target              string
	Labels, Annotations []string // KEY=VALUE
	Secrets, SSH        []string
	NoCache, Pull       bool
	CacheFrom, CacheTo  []string
	Provenance, SBOM    string
	MetadataFile        string
	Load, DryRun        bool
	Parallel            int
	Nodes               []string // PLATFORM=ENDPOINT
	TLS                 builder.TLS
	// Emulators say whether preflight installs missing QEMU handlers.
	Emulators EmulatorOptions
	// PushByDigest writes no arch tag: each platform is reachable by
	// digest only. Refused with Suffix and with a Docker daemon's builder.
	PushByDigest bool
	// NoMerge builds and pushes each platform and writes no index and no
	// final tag (a matrix job; `mab merge` joins the digests later).
	NoMerge bool
	// Output is --output (type=oci,dest=PATH[,tar=false]): every platform
	// into one OCI index in an archive or layout folder, nothing pushed;
	// -t is optional then. Force replaces what is at its dest.
	Output string
	Force  bool
	// LoadPlatform is the platform --load loads into a daemon with the
	// classic image store; empty means the host's.
	LoadPlatform string
	// SourceDateEpoch is --source-date-epoch (else $SOURCE_DATE_EPOCH);
	// Compression, CompressionLevel, ForceCompression and OCIMediaTypes
	// ("", "true" or "false") are the image exporter's options: see repro.go.
	SourceDateEpoch, Compression, CompressionLevel, OCIMediaTypes string
	ForceCompression                                              bool
}

// Target is one platform of a plan and the tag its image is pushed to.
type Target struct {
	Platform ocispec.Platform
	Tag      name.Tag
	// Annotations are the manifest annotations of this platform's image.
	Annotations map[string]string
}

// Plan is a build that passed every check that needs no daemon.
type Plan struct {
	// Final is the first tag: written and read back first, and the one
	// arch tags are derived from. Tags are all of them, Final first.
	Final          name.Tag
	Tags           []name.Tag
	Targets        []Target
	ContextDir     string
	DockerfileDir  string
	DockerfileName string
	BuildArgs      map[string]string
	Builder        string
	// Insecure allows plain HTTP to every registry (--insecure);
	// InsecureRegistries to those only; plainFinal says whether the final
	// tag's registry is one mab may speak plain HTTP to (BuildKit's push).
	Insecure           bool
	InsecureRegistries []string
	plainFinal         bool
	// Registry are the publishing client's options of Options.Registry.
	Registry []merge.Option
	Progress string
	// Build holds the solve options shared by every platform, parsed.
	Build builder.Request
	// Annotations are --annotation, parsed: the manifest ones are in each
	// Target and in Build; the index and descriptor ones go to the merge.
	Annotations Annotations
	// Nodes send platforms to their own builders, in the order given.
	Nodes        []builder.Node
	TLS          builder.TLS
	Parallel     int
	MetadataFile string
	Load, DryRun bool
	Emulators    EmulatorOptions
	// PushByDigest and NoMerge are the options of the same names.
	PushByDigest, NoMerge bool
	// Output, when not nil, is where the index goes instead of a registry;
	// Final is then the zero tag when no -t was given.
	Output *Output
	// LoadPlatform is --load-platform, nil for the host's.
	LoadPlatform *ocispec.Platform
}

// NewPlan validates o and derives everything the build needs. It dials
// nothing: a plan that fails here has touched no daemon and no registry.
// getenv resolves a --build-arg given without a value and $BUILDKIT_HOST.
func NewPlan(o Options, getenv func(string) string) (*Plan, error) {
	plats, err := platform.ParseList(o.Platforms)
	if err != nil {
		return nil, err
	}
	if len(plats) == 0 {
		return nil, fmt.Errorf("no platform given: pass --platform, for example --platform linux/amd64,linux/arm64")
	}
	var (
		tags       []name.Tag
		final      name.Tag
		targets    []Target
		plainFinal bool
		output     *Output
	)
	if o.Output != "" {
		if output, err = ParseOutput(o.Output, o.Force); err != nil {
			return nil, err
		}
		if tags, targets, err = outputTargets(o, plats); err != nil {
			return nil, err
		}
		if len(tags) > 0 {
			final, output.Name = tags[0], o.Tags[0]
		}
	} else {
		if o.Force {
			return nil, fmt.Errorf("--force replaces what is at the --output destination: give --output too")
		}
		if tags, plainFinal, err = parseTags(o); err != nil {
			return nil, err
		}
		final = tags[0]
		if targets, err = ArchTags(final, plats, o.Suffix); err != nil {
			return nil, err
		}
	}
	p := &Plan{
		Output:             output,
		Final:              final,
		Tags:               tags,
		Targets:            targets,
		PushByDigest:       o.PushByDigest,
		NoMerge:            o.NoMerge,
		Builder:            o.Builder,
		Insecure:           o.Insecure,
		InsecureRegistries: o.InsecureRegistries,
		Registry:           o.Registry,
		plainFinal:         plainFinal,
		Progress:           o.Progress,
	}
	p.Emulators = o.Emulators
	if p.Progress == "" {
		p.Progress = "auto"
	}
	if !slices.Contains(ProgressModes, p.Progress) {
		return nil, fmt.Errorf("invalid --progress %q: want one of %s", p.Progress, strings.Join(ProgressModes, ", "))
	}
	p.Builder = builder.Address(o.Builder, getenv)
	if p.BuildArgs, err = parseBuildArgs(o.BuildArgs, getenv); err != nil {
		return nil, err
	}
	if err := p.locate(o.ContextDir, o.Dockerfile); err != nil {
		return nil, err
	}
	if err := p.parseBuild(o); err != nil {
		return nil, err
	}
	if p.Nodes, err = builder.ParseNodes(o.Nodes, getenv(builder.EnvNodes)); err != nil {
		return nil, fmt.Errorf("--node: %w", err)
	}
	if o.Parallel < 0 {
		return nil, fmt.Errorf("invalid --parallel %d: want 0 (all at once) or more", o.Parallel)
	}
	if (o.TLS.Cert == "") != (o.TLS.Key == "") {
		return nil, fmt.Errorf("--tlscert and --tlskey go together")
	}
	if o.MetadataFile != "" && !o.DryRun {
		if err := checkOutput("--metadata-file", o.MetadataFile); err != nil {
			return nil, err
		}
	}
	p.Parallel, p.TLS, p.MetadataFile, p.Load, p.DryRun = o.Parallel, o.TLS, o.MetadataFile, o.Load, o.DryRun
	if err := p.checkLoad(o); err != nil {
		return nil, err
	}
	if p.Output != nil {
		if err := p.checkOutput(o); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err := p.checkPublication(o); err != nil {
		return nil, err
	}
	if err := p.parseRepro(o, getenv); err != nil {
		return nil, err
	}
	return p, nil
}

// parseTags validates every -t with the same rules and refuses one given
// twice. plainFinal says whether BuildKit may push to the first tag's
// registry over plain HTTP.
func parseTags(o Options) (tags []name.Tag, plainFinal bool, err error) {
	if len(o.Tags) == 0 || (len(o.Tags) == 1 && o.Tags[0] == "") {
		return nil, false, fmt.Errorf("no tag given: pass -t REGISTRY/REPO:TAG")
	}
	seen := map[string]bool{}
	for i, s := range o.Tags {
		plain := o.Insecure
		if r, err := name.ParseReference(s); err == nil && len(o.InsecureRegistries) > 0 {
			plain = plain || merge.PlainHTTPAllowed(r.Context().RegistryStr(), o.InsecureRegistries...)
		}
		t, err := parseTag(s, plain)
		if err != nil {
			return nil, false, err
		}
		if seen[t.Name()] {
			return nil, false, fmt.Errorf("tag %s is given twice", clip(s))
		}
		seen[t.Name()] = true
		if i == 0 {
			plainFinal = plain
		}
		tags = append(tags, t)
	}
	return tags, plainFinal, nil
}

// parseTag validates one -t value; plain marks a registry mab may speak
// plain HTTP to.
func parseTag(s string, plain bool) (name.Tag, error) {
	var nameOpts []name.Option
	if plain {
		nameOpts = append(nameOpts, name.Insecure)
	}
	if s == "" {
		return name.Tag{}, fmt.Errorf("invalid tag \"\": pass -t REGISTRY/REPO:TAG")
	}
	if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") && len(s)-i-1 > 128 {
		return name.Tag{}, fmt.Errorf("invalid tag %s: the tag has %d characters; registries accept at most 128", clip(s), len(s)-i-1)
	}
	t, err := name.NewTag(s, nameOpts...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("invalid tag %s: %s", clip(s), merge.Printable(err.Error()))
	}
	if err := checkTag(t.Context(), t.TagStr()); err != nil {
		return name.Tag{}, fmt.Errorf("invalid tag %s: %s", clip(s), merge.Printable(err.Error()))
	}
	return t, nil
}

// checkPublication refuses the combinations of --push-by-digest,
// --no-merge, --suffix, -t and --load that would do nothing or that the
// builder cannot do, before anything is dialled.
func (p *Plan) checkPublication(o Options) error {
	if p.PushByDigest && o.Suffix != "" {
		return fmt.Errorf("--suffix names the arch tags, and --push-by-digest writes none: give one or the other")
	}
	if p.PushByDigest {
		addrs := []string{p.Builder}
		for _, n := range p.Nodes {
			addrs = append(addrs, n.Address)
		}
		for _, a := range addrs {
			if builder.PushesByTag(a) {
				return fmt.Errorf("--push-by-digest cannot be done by the builder %s: a Docker daemon's BuildKit pushes through the daemon, by tag only", a)
			}
		}
	}
	if p.NoMerge && len(p.Tags) > 1 {
		return fmt.Errorf("--no-merge writes no final tag: give the tags to `mab merge`")
	}
	if p.NoMerge && p.Load {
		return fmt.Errorf("--load loads the final tag, and --no-merge writes none: load the image after `mab merge`")
	}
	return nil
}

// locate checks that the context is a directory and the Dockerfile a file.
func (p *Plan) locate(contextDir, dockerfile string) error {
	if contextDir == "" {
		return fmt.Errorf("no build context given: pass a directory, for example `.`")
	}
	abs, err := filepath.Abs(contextDir)
	if err != nil {
		return err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("build context %s: %w", contextDir, unwrapPath(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("build context %s is not a directory", contextDir)
	}
	p.ContextDir = abs
	if dockerfile == "" {
		dockerfile = filepath.Join(abs, "Dockerfile")
	}
	df, err := filepath.Abs(dockerfile)
	if err != nil {
		return err
	}
	st, err = os.Stat(df)
	if err != nil {
		return fmt.Errorf("reading the Dockerfile %s: %w", dockerfile, unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("the Dockerfile %s is not a regular file", dockerfile)
	}
	p.DockerfileDir, p.DockerfileName = filepath.Dir(df), filepath.Base(df)
	return nil
}

// unwrapPath drops the path from an *os.PathError: the caller names it.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// checkTag validates tag in repo with go-containerregistry's rules
// (letters, digits, '_', '.', '-'; at most 128, said here in fewer words
// than its message, which repeats the whole tag), plus the one it leaves
// out: the distribution spec's tags start with a letter, digit or '_', and
// registries refuse one that starts with '.' or '-'.
func checkTag(repo name.Repository, tag string) error {
	if len(tag) > 128 {
		return fmt.Errorf("tag %s has %d characters; registries accept at most 128", clip(tag), len(tag))
	}
	if _, err := name.NewTag(repo.String()+":"+tag, name.StrictValidation); err != nil {
		// go-containerregistry repeats the tag raw: quote it instead.
		return fmt.Errorf("tag %s: %s", clip(tag), merge.Printable(err.Error()))
	}
	if strings.HasPrefix(tag, ".") || strings.HasPrefix(tag, "-") {
		return fmt.Errorf("tag %s may not start with '.' or '-'", clip(tag))
	}
	return nil
}

// clip quotes s for an error, cut to its first 60 bytes: a bad value may
// be megabytes long, and an error is one line.
func clip(s string) string {
	if len(s) <= 60 {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:60]) + fmt.Sprintf("… (%d bytes)", len(s))
}

// suffixData is what the --suffix template sees.
type suffixData struct {
	Tag, OS, Arch, Variant string
}

// ArchTags derives the arch tag of each platform from final and the
// template suffix (DefaultSuffix when empty). Tags that collide, exceed 128
// characters or are not valid tags are refused.
func ArchTags(final name.Tag, plats []ocispec.Platform, suffix string) ([]Target, error) {
	if suffix == "" {
		suffix = DefaultSuffix
	}
	tmpl, err := template.New("suffix").Option("missingkey=error").Parse(suffix)
	if err != nil {
		return nil, fmt.Errorf("invalid --suffix %q: %w", suffix, err)
	}
	if tmpl.Tree != nil && loops(tmpl.Tree.Root) {
		return nil, fmt.Errorf("invalid --suffix %q: range and template actions are not allowed", suffix)
	}
	out := make([]Target, 0, len(plats))
	seen := map[string]string{}
	for _, p := range plats {
		b := &limitedBuffer{max: maxRendered}
		plat := platform.Format(p)
		err := tmpl.Execute(b, suffixData{Tag: final.TagStr(), OS: p.OS, Arch: p.Architecture, Variant: p.Variant})
		if errors.Is(err, errTooLong) || len(b.String()) > 128 {
			return nil, fmt.Errorf("arch tag for %s is too long (%q…): registries accept at most 128 characters", plat, b.String()[:32])
		}
		if err != nil {
			return nil, fmt.Errorf("invalid --suffix %q: %w", suffix, err)
		}
		tag := b.String()
		if err := checkTag(final.Context(), tag); err != nil {
			if bad := (*name.ErrBadName)(nil); errors.As(err, &bad) {
				// go-containerregistry's message repeats the tag raw.
				err = fmt.Errorf("%q is not a tag: want letters, digits, '_', '.' and '-'", tag)
			}
			return nil, fmt.Errorf("arch tag for %s: %w", plat, err)
		}
		if tag == final.TagStr() {
			return nil, fmt.Errorf("arch tag for %s is %q, the final tag itself: the --suffix must add something", plat, tag)
		}
		if other, dup := seen[tag]; dup {
			return nil, fmt.Errorf("platforms %s and %s would both be pushed as %q: use a --suffix that tells them apart", other, plat, tag)
		}
		seen[tag] = plat
		out = append(out, Target{Platform: p, Tag: final.Context().Tag(tag)})
	}
	return out, nil
}

// maxRendered bounds what a --suffix may write for one platform: past it
// the tag is refused anyway, so the rendering stops there.
const maxRendered = 256

var errTooLong = errors.New("rendered suffix too long")

// limitedBuffer is a buffer that refuses to grow past max bytes.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		n, _ := b.Buffer.Write(p[:b.max-b.Len()])
		return n, errTooLong
	}
	return b.Buffer.Write(p)
}

// loops reports whether n holds a range or a template action: a suffix
// needs neither, and either can run for seconds without writing a byte.
func loops(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		return n != nil && slices.ContainsFunc(n.Nodes, loops)
	case *parse.IfNode:
		return loops(n.List) || loops(n.ElseList)
	case *parse.WithNode:
		return loops(n.List) || loops(n.ElseList)
	case *parse.RangeNode, *parse.TemplateNode:
		return true
	}
	return false
}

// parseBuild checks and parses the options every solve shares.
func (p *Plan) parseBuild(o Options) error {
	b := builder.Request{
		ContextDir: p.ContextDir, DockerfileDir: p.DockerfileDir, DockerfileName: p.DockerfileName,
		BuildArgs: p.BuildArgs, Target: o.Target, NoCache: o.NoCache, Pull: o.Pull, Insecure: p.Insecure, InsecurePush: p.plainFinal,
	}
	var err error
	if b.Labels, err = keyValues("--label", o.Labels); err != nil {
		return err
	}
	if p.Annotations, err = ParseAnnotations(o.Annotations); err != nil {
		return err
	}
	plats := make([]ocispec.Platform, len(p.Targets))
	for i, t := range p.Targets {
		plats[i] = t.Platform
	}
	if err := p.Annotations.ForBuild(plats); err != nil {
		return err
	}
	b.Annotations = p.Annotations.Manifest(ocispec.Platform{})
	for i, t := range p.Targets {
		p.Targets[i].Annotations = p.Annotations.Manifest(t.Platform)
	}
	for _, s := range o.Secrets {
		sec, err := builder.ParseSecret(s)
		if err != nil {
			return fmt.Errorf("--secret: %w", err)
		}
		b.Secrets = append(b.Secrets, sec)
	}
	for _, s := range o.SSH {
		ssh, err := builder.ParseSSH(s)
		if err != nil {
			return fmt.Errorf("--ssh: %w", err)
		}
		b.SSH = append(b.SSH, ssh)
	}
	for _, s := range o.CacheFrom {
		c, err := builder.ParseCacheFrom(s)
		if err != nil {
			return fmt.Errorf("--cache-from: %w", err)
		}
		b.CacheFrom = append(b.CacheFrom, c)
	}
	for _, s := range o.CacheTo {
		c, err := builder.ParseCacheTo(s)
		if err != nil {
			return fmt.Errorf("--cache-to: %w", err)
		}
		b.CacheTo = append(b.CacheTo, c)
	}
	b.Attest = map[string]string{}
	for _, a := range []struct{ kind, flag, value, onValue string }{
		{"provenance", "--provenance", o.Provenance, "mode=min"},
		{"sbom", "--sbom", o.SBOM, ""},
	} {
		v, on, err := attestation(a.flag, a.value, a.onValue)
		if err != nil {
			return err
		}
		if on {
			b.Attest[a.kind] = v
		}
	}
	p.Build = b
	return nil
}

// attestation reads --provenance or --sbom: empty or false is off, true
// is on with onValue, KEY=VALUE,… is on with those options.
func attestation(flag, v, onValue string) (string, bool, error) {
	switch strings.ToLower(v) {
	case "", "false", "0":
		return "", false, nil
	case "true", "1":
		return onValue, true, nil
	}
	if !strings.Contains(v, "=") {
		return "", false, fmt.Errorf("invalid %s %q: want true, false or KEY=VALUE,…", flag, v)
	}
	return v, true, nil
}

func keyValues(flag string, in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid %s %q: want KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

// hostTarget is the index of the target of the host's own platform (the
// one --load loads), or -1.
func (p *Plan) hostTarget() int {
	for i, t := range p.Targets {
		if platform.IsHost(t.Platform) {
			return i
		}
	}
	return -1
}

// ResolveBuildArgs gives each --build-arg KEY without a value the value
// of KEY in the environment (lookup is os.LookupEnv), as docker build
// does: a KEY the environment does not set is dropped, and returned in
// dropped, so that the build's ARG default applies. KEY=VALUE is kept as
// it is; so is KEY set to the empty string.
func ResolveBuildArgs(args []string, lookup func(string) (string, bool)) (resolved, dropped []string) {
	for _, a := range args {
		if a == "" || strings.Contains(a, "=") {
			resolved = append(resolved, a)
			continue
		}
		if v, ok := lookup(a); ok {
			resolved = append(resolved, a+"="+v)
		} else {
			dropped = append(dropped, a)
		}
	}
	return resolved, dropped
}

func parseBuildArgs(args []string, getenv func(string) string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid --build-arg %q: want KEY=VALUE", a)
		}
		if !ok {
			v = getenv(k)
		}
		out[k] = v
	}
	return out, nil
}
