package builder

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/mab-build/mab/internal/platform"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/filesync"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// Target is one platform to build and the reference its image is pushed to.
type Target struct {
	Platform ocispec.Platform
	// Name is the full reference of the arch tag, e.g. registry/app:1.4-arm64.
	// BuildKit's image exporter pushes by digest into Name's repository and
	// writes no tag; only a Docker daemon's builder pushes under Name.
	Name string
	// Annotations go onto this target's manifest, over Request.Annotations.
	Annotations map[string]string
}

// Request describes one Dockerfile built for several platforms. Every
// field but Targets and Limit is the same for each platform.
type Request struct {
	// ContextDir is the build context; DockerfileDir and DockerfileName
	// locate the Dockerfile (the directory is sent as its own local mount).
	ContextDir     string
	DockerfileDir  string
	DockerfileName string
	BuildArgs      map[string]string
	// Target is the stage to build; empty means the last.
	Target string
	// Labels go into each image config; Annotations onto each manifest.
	Labels      map[string]string
	Annotations map[string]string
	Secrets     []Secret
	SSH         []SSH
	NoCache     bool
	// Pull always resolves base images anew.
	Pull bool
	// CacheFrom and CacheTo may hold "{arch}", replaced per platform.
	CacheFrom, CacheTo []Cache
	// Attest turns on attestations: "provenance" and "sbom" map to the
	// values of BuildKit's attest:provenance and attest:sbom options.
	Attest map[string]string
	// Insecure lets BuildKit push to and pull from plain-HTTP registries:
	// the targets' and the caches'. InsecurePush does it for the targets'
	// registry only.
	Insecure, InsecurePush bool
	// Image are the image exporter's options: compression, media types,
	// timestamps (see ImageOptions).
	Image   ImageOptions
	Targets []Target
	// ArchiveDir, when not empty, exports each target as an OCI archive
	// into this folder (see ArchivePath) instead of pushing it: nothing
	// reaches a registry. Not for a Docker daemon's builder.
	ArchiveDir string
	// Limit, when not nil, bounds the solves running at once, across every
	// builder that shares it: each solve holds one slot.
	Limit chan struct{}
}

// Result is the outcome of one Target. Err is nil when the image was built
// and pushed; Digest is then the manifest (or, with attestations, index)
// digest that was pushed, and MediaType and Size describe it when the
// builder said (BuildKit's exporter does; a Docker daemon's push does not).
type Result struct {
	Target    Target
	Digest    string
	MediaType string
	Size      int64
	// Tagged says Target.Name holds the image: a Docker daemon's builder
	// pushes by tag. BuildKit's image exporter pushes by digest only.
	Tagged   bool
	Duration time.Duration
	// Steps are the solve's exec steps (RUN), slowest first.
	Steps []Step
	Err   error
}

// PushesByTag reports whether the builder at addr pushes each image under
// its arch tag (a Docker daemon's BuildKit, whose moby exporter stores the
// image in the daemon, which then pushes it by tag): such a builder cannot
// push by digest.
func PushesByTag(addr string) bool {
	return addr == "docker" || strings.HasPrefix(addr, "docker+")
}

// Build solves req once per target on this builder, all in one session and
// concurrently up to req.Limit, showing progress on disp. It returns one
// Result per target in the order of req.Targets. A failing target does not
// stop the others; the error is for failures that stop every target.
//
// The solves share what does not depend on the platform: BuildKit runs
// the local sources (the context, the Dockerfile, .dockerignore) once for
// every solve that loads them while another holds them, so the context
// crosses the wire once per builder, and disp shows each such step once.
func (c *Client) Build(ctx context.Context, req Request, disp Progress) ([]Result, error) {
	if err := c.checkArchives(req); err != nil {
		return nil, err
	}
	sess, err := c.newSession(ctx, req)
	if err != nil {
		return nil, err
	}
	disp = shareSteps(disp, sess.ID())
	sessCtx, stopSession := context.WithCancel(context.WithoutCancel(ctx))
	sessDone := make(chan error, 1)
	go func() { sessDone <- sess.Run(sessCtx, c.bk.Dialer()) }()
	defer func() {
		sess.Close()
		stopSession()
		<-sessDone
	}()

	results := make([]Result, len(req.Targets))
	var wg sync.WaitGroup
	for i, t := range req.Targets {
		wg.Go(func() {
			if req.Limit != nil {
				select {
				case req.Limit <- struct{}{}:
					defer func() { <-req.Limit }()
				case <-ctx.Done():
					results[i] = Result{Target: t, Err: fmt.Errorf("building %s: %w", platform.Format(t.Platform), ctx.Err())}
					return
				}
			}
			results[i] = c.solve(ctx, sess, req, t, disp)
		})
	}
	wg.Wait()
	return results, nil
}

func (c *Client) solve(ctx context.Context, sess *session.Session, req Request, t Target, disp Progress) Result {
	start := time.Now()
	plat := platform.Format(t.Platform)
	res := Result{Target: t}
	arch := platform.ArchVariant(t.Platform)
	resp, steps, err := c.solveDockerfile(ctx, bkclient.SolveOpt{
		Frontend:              "dockerfile.v0",
		FrontendAttrs:         c.frontendAttrs(req, t),
		Exports:               []bkclient.ExportEntry{c.export(req, t)},
		CacheImports:          expandCache(req.CacheFrom, arch, req.Insecure),
		CacheExports:          expandCache(req.CacheTo, arch, req.Insecure),
		SharedSession:         sess,
		SessionPreInitialized: true,
	}, disp.Solve(plat))
	res.Steps = steps
	if err != nil {
		res.Duration = time.Since(start)
		res.Err = fmt.Errorf("building %s: %w", plat, authError(err, t.Name))
		return res
	}
	if c.docker != nil {
		done := disp.Step(fmt.Sprintf("[%s] pushing %s through the Docker daemon", plat, t.Name))
		res.Digest, err = c.docker.push(ctx, t.Name)
		done(err)
		if err != nil {
			res.Duration = time.Since(start)
			res.Err = fmt.Errorf("building %s: %w", plat, err)
			return res
		}
		res.Tagged = true
	} else {
		res.Digest = resp.ExporterResponse[exptypes.ExporterImageDigestKey]
		res.MediaType, res.Size = pushedDescriptor(resp.ExporterResponse, res.Digest)
	}
	res.Duration = time.Since(start)
	if res.Digest == "" {
		res.Err = fmt.Errorf("building %s: BuildKit reported no image digest for %s", plat, t.Name)
	}
	return res
}

// refusals are the texts by which BuildKit's gRPC errors (which carry the
// HTTP status only in their text) and a Docker daemon's push messages say
// that a registry refused the credentials, or that there were none.
var refusals = []string{"401 Unauthorized", "403 Forbidden", "no basic auth credentials", "unauthorized: authentication required", "denied: requested access to the resource is denied"}

// authError wraps err in an *AuthError when a registry refused the
// credentials of BuildKit or of a Docker daemon for ref.
func authError(err error, ref string) error {
	msg := err.Error()
	if !slices.ContainsFunc(refusals, func(r string) bool { return strings.Contains(msg, r) }) {
		return err
	}
	named, perr := reference.ParseNormalizedNamed(ref)
	if perr != nil {
		return err
	}
	return &AuthError{Registry: reference.Domain(named), Err: err}
}

// frontendAttrs are the dockerfile.v0 options of one target.
func (c *Client) frontendAttrs(req Request, t Target) map[string]string {
	attrs := map[string]string{
		"filename": req.DockerfileName,
		// With its OS version, windows(10.0.17763)/amd64: the frontend
		// parses the attribute with containerd's platforms.Parse.
		"platform": platform.FormatAll(t.Platform),
	}
	for k, v := range req.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	for k, v := range req.Labels {
		attrs["label:"+k] = v
	}
	if req.Target != "" {
		attrs["target"] = req.Target
	}
	if req.NoCache {
		attrs["no-cache"] = ""
	}
	// A Docker daemon's BuildKit resolves a base image from the daemon's
	// store first, and dockerd 20.10 then takes an image of another
	// platform stored under that name: an "arm64" image with armv7
	// binaries. Resolving from the registry keeps each platform its own.
	if req.Pull || c.docker != nil {
		attrs["image-resolve-mode"] = "pull"
	}
	for k, v := range req.Attest {
		attrs["attest:"+k] = v
	}
	return attrs
}

// pushedDescriptor reads the media type and size of the pushed manifest
// from the exporter's response: containerimage.descriptor is the base64 of
// its JSON descriptor. It returns nothing when the response lacks it or
// describes another digest.
func pushedDescriptor(resp map[string]string, digest string) (string, int64) {
	raw, err := base64.StdEncoding.DecodeString(resp[exptypes.ExporterImageDescriptorKey])
	if err != nil || len(raw) == 0 {
		return "", 0
	}
	var d ocispec.Descriptor
	if json.Unmarshal(raw, &d) != nil || d.Digest.String() != digest {
		return "", 0
	}
	return d.MediaType, d.Size
}

// repository is the repository of the reference ref (its tag dropped),
// as the image exporter's name when it pushes by digest.
func repository(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref // the plan validated it; BuildKit reports it otherwise
	}
	return reference.TrimNamed(named).String()
}

// export is the exporter of one target: BuildKit pushes by digest into
// the target's repository and writes no tag (as buildx's
// push-by-digest=true); for a Docker daemon, an image in its store, pushed
// afterwards under the arch tag.
func (c *Client) export(req Request, t Target) bkclient.ExportEntry {
	attrs := map[string]string{"name": t.Name}
	for k, v := range req.Annotations {
		attrs["annotation."+k] = v
	}
	for k, v := range t.Annotations {
		attrs["annotation."+k] = v
	}
	if req.ArchiveDir != "" {
		return archiveExport(attrs)
	}
	if c.docker != nil {
		return bkclient.ExportEntry{Type: "moby", Attrs: attrs}
	}
	attrs["name"] = repository(t.Name)
	attrs["push"] = "true"
	attrs["push-by-digest"] = "true"
	if req.Insecure || req.InsecurePush {
		attrs["registry.insecure"] = "true"
	}
	for k, v := range req.Image.exportAttrs() {
		attrs[k] = v
	}
	return bkclient.ExportEntry{Type: bkclient.ExporterImage, Attrs: attrs}
}

// newSession prepares the one session every solve of this builder shares:
// the context and Dockerfile directories, registry credentials from the
// Docker config, secrets and SSH agents. Its shared key is derived from the
// builder and the context path, so BuildKit syncs a context it saw before
// incrementally.
func (c *Client) newSession(ctx context.Context, req Request) (*session.Session, error) {
	sum := sha256.Sum256([]byte(c.addr + "\x00" + req.ContextDir))
	sess, err := session.NewSession(ctx, "mab-"+hex.EncodeToString(sum[:8]))
	if err != nil {
		return nil, fmt.Errorf("creating BuildKit session: %w", err)
	}
	contextFS, err := localFS(req.ContextDir)
	if err != nil {
		return nil, fmt.Errorf("opening build context %s: %w", req.ContextDir, err)
	}
	dockerfileFS, err := localFS(req.DockerfileDir)
	if err != nil {
		return nil, fmt.Errorf("opening Dockerfile directory %s: %w", req.DockerfileDir, err)
	}
	sess.Allow(filesync.NewFSSyncProvider(filesync.StaticDirSource{
		"context":    contextFS,
		"dockerfile": dockerfileFS,
	}))
	sess.Allow(authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(config.LoadDefaultConfigFile(io.Discard)),
	}))
	if len(req.Secrets) > 0 {
		store, err := secretsprovider.NewStore(req.Secrets)
		if err != nil {
			return nil, fmt.Errorf("reading secrets: %w", err)
		}
		sess.Allow(secretsprovider.NewSecretProvider(store))
	}
	if req.ArchiveDir != "" {
		attachArchives(sess, req.ArchiveDir)
	}
	if len(req.SSH) > 0 {
		sp, err := sshprovider.NewSSHAgentProvider(req.SSH)
		if err != nil {
			return nil, fmt.Errorf("opening SSH agents: %w", err)
		}
		sess.Allow(sp)
	}
	return sess, nil
}

// localFS opens dir for sending, with owners reset to root as the docker
// CLI and buildctl do.
func localFS(dir string) (fsutil.FS, error) {
	fs, err := fsutil.NewFS(dir)
	if err != nil {
		return nil, err
	}
	return fsutil.NewFilterFS(fs, &fsutil.FilterOpt{
		Map: func(_ string, st *fstypes.Stat) fsutil.MapResult {
			st.Uid, st.Gid = 0, 0
			return fsutil.MapResultKeep
		},
	})
}
