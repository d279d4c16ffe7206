package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	"github.com/containerd/platforms"
	"github.com/docker/cli/cli/config"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/filesync"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
	fstypes "github.com/tonistiigi/fsutil/types"
)

// Target is one platform to build and the reference its image is pushed to.
type Target struct {
	Platform ocispec.Platform
	// Name is the full reference of the arch tag, e.g. registry/app:1.4-arm64.
	Name string
}

// Request describes one Dockerfile built for several platforms.
type Request struct {
	// ContextDir is the build context; DockerfileDir and DockerfileName
	// locate the Dockerfile (the directory is sent as its own local mount).
	ContextDir     string
	DockerfileDir  string
	DockerfileName string
	// BuildArgs are passed to the frontend as build-arg:KEY.
	BuildArgs map[string]string
	// Insecure lets BuildKit push to a plain-HTTP registry.
	Insecure bool
	Targets  []Target
	// Progress is the display mode: auto, tty, plain, quiet or rawjson.
	Progress string
	// ProgressOut receives the display; nil discards it.
	ProgressOut io.Writer
}

// Result is the outcome of one Target. Err is nil when the image was built
// and pushed; Digest is then the manifest digest BuildKit pushed.
type Result struct {
	Target   Target
	Digest   string
	Duration time.Duration
	Err      error
}

// Build solves req once per target, all concurrently and all in one session,
// and returns one Result per target in the order of req.Targets. A failing
// target does not stop the others; the error returned is only for failures
// that stopped every target (the session or the display).
func (c *Client) Build(ctx context.Context, req Request) ([]Result, error) {
	sess, err := c.newSession(ctx, req)
	if err != nil {
		return nil, err
	}
	sessCtx, stopSession := context.WithCancel(context.WithoutCancel(ctx))
	sessDone := make(chan error, 1)
	go func() { sessDone <- sess.Run(sessCtx, c.bk.Dialer()) }()
	defer func() {
		sess.Close()
		stopSession()
		<-sessDone
	}()

	out := req.ProgressOut
	if out == nil {
		out = io.Discard
	}
	disp, err := newDisplay(ctx, out, req.Progress)
	if err != nil {
		return nil, fmt.Errorf("starting progress display: %w", err)
	}

	results := make([]Result, len(req.Targets))
	var wg sync.WaitGroup
	for i, t := range req.Targets {
		ch := disp.channel(platforms.Format(t.Platform))
		wg.Go(func() {
			results[i] = c.solve(ctx, sess, req, t, ch)
		})
	}
	wg.Wait()
	if err := disp.wait(); err != nil && ctx.Err() == nil {
		return results, fmt.Errorf("progress display: %w", err)
	}
	return results, nil
}

func (c *Client) solve(ctx context.Context, sess *session.Session, req Request, t Target, ch chan *bkclient.SolveStatus) Result {
	start := time.Now()
	res := Result{Target: t}
	attrs := map[string]string{
		"filename": req.DockerfileName,
		"platform": platforms.Format(t.Platform),
	}
	for k, v := range req.BuildArgs {
		attrs["build-arg:"+k] = v
	}
	export := map[string]string{"name": t.Name, "push": "true"}
	if req.Insecure {
		export["registry.insecure"] = "true"
	}
	resp, err := c.bk.Solve(ctx, nil, bkclient.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		Exports: []bkclient.ExportEntry{{
			Type:  bkclient.ExporterImage,
			Attrs: maps.Clone(export),
		}},
		SharedSession:         sess,
		SessionPreInitialized: true,
	}, ch)
	res.Duration = time.Since(start)
	if err != nil {
		res.Err = fmt.Errorf("building %s: %w", platforms.Format(t.Platform), err)
		return res
	}
	res.Digest = resp.ExporterResponse[exptypes.ExporterImageDigestKey]
	if res.Digest == "" {
		res.Err = fmt.Errorf("building %s: BuildKit reported no image digest for %s", platforms.Format(t.Platform), t.Name)
	}
	return res
}

// newSession prepares the one session every solve shares: the context and
// Dockerfile directories, and registry credentials from the Docker config.
// Its shared key is derived from the context path, so that BuildKit can
// sync a context it saw before incrementally.
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
