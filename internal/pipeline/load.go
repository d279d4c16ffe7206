package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
	"github.com/mab-build/mab/merge"
	"github.com/mab-build/mab/ocilayout"
)

// --load puts the build into the Docker daemon of $DOCKER_HOST. What it
// can hold depends on the daemon's image store: the containerd store
// holds the whole index under one name, so the index is loaded; the
// classic store holds one image per name, so one platform is: the host's,
// or the one of --load-platform.

func (r Runner) dockerStore(ctx context.Context) (builder.DockerStore, error) {
	if r.DockerStore != nil {
		return r.DockerStore(ctx)
	}
	return builder.InspectDocker(ctx)
}

func (r Runner) loadArchive(ctx context.Context, rd io.Reader) ([]string, error) {
	if r.LoadArchive != nil {
		return r.LoadArchive(ctx, rd)
	}
	return builder.LoadArchive(ctx, rd)
}

// loadPublished loads what the final tag holds once confirmed: with the
// containerd store, the whole index (read from the registry into an OCI
// archive streamed to `docker load`) under the final tag; with the classic
// store, target i's image pulled by digest under the final tag and its
// arch tag.
func (r Runner) loadPublished(ctx context.Context, p *Plan, client *merge.Client, res *Result, i int) error {
	store, err := r.dockerStore(ctx)
	if err != nil {
		return err
	}
	if !store.Containerd {
		if err := r.load(ctx, p, i, res.Platforms[i]); err != nil {
			return err
		}
		as := p.Final.String()
		if res.Platforms[i].Tagged {
			as += " and " + p.Targets[i].Tag.String()
		}
		res.Loaded = fmt.Sprintf("--load: %s: loaded %s as %s", store, platform.Format(p.Targets[i].Platform), as)
		return nil
	}
	desc, err := client.Fetch(ctx, p.Final.Context().Digest(res.Digest))
	if err != nil {
		return err
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return fmt.Errorf("reading %s: %w", p.Final, err)
	}
	tmp, err := os.MkdirTemp("", "mab-load-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	w, err := ocilayout.Create(ocilayout.Destination{Path: filepath.Join(tmp, "index.tar"), Tar: true})
	if err != nil {
		return err
	}
	defer w.Close()
	top, err := w.AddIndex(ctx, idx, desc.Manifest, nil)
	if err != nil {
		return err
	}
	names, err := ocilayout.Names(p.Final.String())
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(w.Stream(top, names, nil, pw)) }()
	if _, err = r.loadArchive(ctx, pr); err != nil {
		pr.CloseWithError(err)
		return err
	}
	res.Loaded = fmt.Sprintf("--load: %s: loaded every platform of the index as %s", store, p.Final)
	return nil
}

// loadLayout loads the archive or layout folder that --output wrote:
// `docker load` reads the whole index from it with the containerd store,
// and the one platform of its manifest.json (plat) with the classic
// store.
func (r Runner) loadLayout(ctx context.Context, p *Plan, dest ocilayout.Destination, plat string, res *Result) error {
	store, err := r.dockerStore(ctx)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		if !dest.Tar {
			pw.CloseWithError(ocilayout.WriteFolder(dest.Path, pw))
			return
		}
		f, err := os.Open(dest.Path)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		defer f.Close()
		_, err = io.Copy(pw, f)
		pw.CloseWithError(err)
	}()
	loaded, err := r.loadArchive(ctx, pr)
	if err != nil {
		pr.CloseWithError(err)
		return err
	}
	what := "every platform"
	if !store.Containerd {
		what = plat
	}
	as := "no name (no -t)"
	if len(loaded) > 0 {
		as = strings.Join(loaded, ", ")
	}
	res.Loaded = fmt.Sprintf("--load: %s: loaded %s of %s as %s", store, what, dest.Path, as)
	return nil
}
