// Package buildertest is a stand-in BuildKit for tests that run mab's
// commands without a daemon: a builder that "builds" each platform by
// pushing a small image of that platform to the target's registry, as
// BuildKit's image exporter does with push-by-digest.
//
// It is configured from the environment, so that a test binary that runs
// mab's main as a command (the script tests of cmd/mab) can point mab at
// it; mab's own binary never imports this package.
package buildertest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// EnvBuilders lists the fake builders, space-separated, each
	// ADDRESS=PLATFORM,PLATFORM... (its workers' platforms, the native one
	// first), e.g. "fake://buildkit=linux/amd64,linux/arm64". The first is
	// the one discovered when no builder is named.
	EnvBuilders = "MAB_FAKE_BUILDERS"
	// EnvFail names platforms, comma-separated, whose solve fails.
	EnvFail = "MAB_FAKE_FAIL"
	// EnvTook gives the durations the solves report (nothing waits), as
	// PLATFORM=DURATION,... e.g. "linux/amd64=1s,linux/arm64=5s".
	EnvTook = "MAB_FAKE_TOOK"
)

// UserAgent is the User-Agent of the fake's pushes, so that a test
// counting a registry's requests can tell the builder's from mab's.
const UserAgent = "mab-fake-buildkit"

// FromEnv reads the fake builders of EnvBuilders and EnvFail, keyed by
// address; the first address is returned too. None configured is nil.
func FromEnv(getenv func(string) string) (map[string]*Fake, string, error) {
	spec := strings.Fields(getenv(EnvBuilders))
	if len(spec) == 0 {
		return nil, "", nil
	}
	fail := map[string]bool{}
	for _, p := range strings.Split(getenv(EnvFail), ",") {
		if p == "" {
			continue
		}
		pl, err := platform.Parse(p)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvFail, err)
		}
		fail[platform.Key(pl)] = true
	}
	took := map[string]time.Duration{}
	for _, kv := range strings.Split(getenv(EnvTook), ",") {
		if kv == "" {
			continue
		}
		p, d, _ := strings.Cut(kv, "=")
		pl, err := platform.Parse(p)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvTook, err)
		}
		if took[platform.Key(pl)], err = time.ParseDuration(d); err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvTook, err)
		}
	}
	out := map[string]*Fake{}
	var first string
	for _, s := range spec {
		addr, list, ok := strings.Cut(s, "=")
		if !ok {
			return nil, "", fmt.Errorf("%s: %q is not ADDRESS=PLATFORMS", EnvBuilders, s)
		}
		f := &Fake{Addr: addr, Fail: fail, Took: took}
		for _, p := range strings.Split(list, ",") {
			pl, err := platform.Parse(p)
			if err != nil {
				return nil, "", fmt.Errorf("%s: %w", EnvBuilders, err)
			}
			f.Have = append(f.Have, pl)
		}
		if first == "" {
			first = addr
		}
		out[addr] = f
	}
	return out, first, nil
}

// Fake is one fake BuildKit endpoint.
type Fake struct {
	Addr string
	// Have is what its workers run, the native platform first.
	Have []ocispec.Platform
	// Fail makes the solves of these platforms (platform.Key) fail.
	Fail map[string]bool
	// Took is the duration the solve of a platform (platform.Key) reports.
	Took map[string]time.Duration
}

// Address is the fake's address.
func (f *Fake) Address() string { return f.Addr }

// Platforms is Have.
func (f *Fake) Platforms(context.Context) ([]ocispec.Platform, error) { return f.Have, nil }

// Close does nothing.
func (f *Fake) Close() error { return nil }

// Build pushes, for each target, an image of its platform by digest into
// the target's repository (under the arch tag itself for a Docker
// daemon's address, as dockerd pushes by tag). The image is the same for
// the same platform, build arguments and labels, so its digest is too.
func (f *Fake) Build(ctx context.Context, req builder.Request, progress builder.Progress) ([]builder.Result, error) {
	out := make([]builder.Result, len(req.Targets))
	for i, t := range req.Targets {
		key := platform.Key(t.Platform)
		out[i] = builder.Result{Target: t, Duration: f.Took[key]}
		done := progress.Step("[" + platform.Format(t.Platform) + "] fake solve")
		if f.Fail[key] {
			out[i].Err = fmt.Errorf("building %s: process \"/bin/sh -c false\" did not complete successfully: exit code: 1", platform.Format(t.Platform))
			out[i].Steps = []builder.Step{f.step(t, f.Took[key])} // the RUN that failed
			done(out[i].Err)
			continue
		}
		res, err := push(ctx, f.osVersion(t), req, builder.PushesByTag(f.Addr))
		if err != nil {
			out[i].Err = fmt.Errorf("building %s: %w", platform.Format(t.Platform), err)
		} else {
			out[i].Digest, out[i].MediaType, out[i].Size, out[i].Tagged = res.Digest, res.MediaType, res.Size, builder.PushesByTag(f.Addr)
			out[i].Duration = f.Took[key]
			out[i].Steps = []builder.Step{f.step(t, f.Took[key])}
		}
		done(out[i].Err)
	}
	return out, nil
}

// step is the one exec step a fake solve reports: the RUN of a
// Dockerfile whose last stage runs on the target platform (line 2), which
// took the whole solve. On a platform the fake does not run natively it
// ran under emulation, so the build's mode is "emulated".
func (f *Fake) step(t builder.Target, took time.Duration) builder.Step {
	return builder.Step{Name: "[2/2] RUN ./build.sh", Platform: t.Platform, File: "Dockerfile", Line: 2, Ran: true, Duration: took}
}

// osVersion is t with the OS version of the worker that runs it, as a
// Windows builder writes its own into the image config.
func (f *Fake) osVersion(t builder.Target) builder.Target {
	for _, h := range f.Have {
		if h.OS == t.Platform.OS && h.Architecture == t.Platform.Architecture && t.Platform.OSVersion == "" {
			t.Platform.OSVersion = h.OSVersion
		}
	}
	return t
}

// push writes the image of target t and describes it.
func push(ctx context.Context, t builder.Target, req builder.Request, byTag bool) (builder.Result, error) {
	img, err := Image(t.Platform, req.BuildArgs, req.Labels)
	if err != nil {
		return builder.Result{}, err
	}
	var nameOpts []name.Option
	if req.Insecure || req.InsecurePush {
		nameOpts = append(nameOpts, name.Insecure)
	}
	tag, err := name.NewTag(t.Name, nameOpts...)
	if err != nil {
		return builder.Result{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return builder.Result{}, err
	}
	var dst name.Reference = tag.Context().Digest(d.String())
	if byTag {
		dst = tag
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithUserAgent(UserAgent)}
	if err := remote.Write(dst, img, opts...); err != nil {
		return builder.Result{}, fmt.Errorf("pushing %s: %w", dst, err)
	}
	size, err := img.Size()
	if err != nil {
		return builder.Result{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return builder.Result{}, err
	}
	return builder.Result{Digest: d.String(), MediaType: string(mt), Size: size}, nil
}

// Image is the OCI image a fake build of p gives: one layer naming the
// platform and the build arguments, a config declaring p and the labels.
func Image(p ocispec.Platform, args, labels map[string]string) (v1.Image, error) {
	p = platforms.Normalize(p)
	var content strings.Builder
	content.WriteString(platform.Format(p) + "\n")
	for _, k := range sortedKeys(args) {
		fmt.Fprintf(&content, "%s=%s\n", k, args[k])
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(img, static.NewLayer([]byte(content.String()), types.OCILayer))
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant, cfg.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	if len(labels) > 0 {
		cfg.Config.Labels = labels
	}
	return mutate.ConfigFile(img, cfg)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
