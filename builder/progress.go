package builder

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
)

// Progress is where builds show what they do. A solve writes its statuses
// to the channel Solve returns and closes it; a step that is not a solve
// (a merge, a push through Docker) is shown with Step. *Display is mab's;
// tests pass their own.
type Progress interface {
	// Solve returns a channel whose statuses are shown with prefix (the
	// platform). Whoever writes to it closes it.
	Solve(prefix string) chan *bkclient.SolveStatus
	// Step shows name as a vertex of its own and returns the function
	// that completes it, with its error if it failed.
	Step(name string) func(error)
}

// Display shows the progress of several solves, on one or more builders,
// in one display. Each solve writes to its own channel; its vertices are
// renamed "[prefix] name" and given digests of their own, so identical
// steps of two platforms stay two lines (Build shows a step that one
// builder's solves share, the context transfer say, in one solve only).
type Display struct {
	merged chan *bkclient.SolveStatus
	wg     sync.WaitGroup
	done   chan error
}

// NewDisplay starts a display in mode (auto, tty, plain, quiet, rawjson)
// writing to w. Every channel it hands out must be closed before Wait.
func NewDisplay(ctx context.Context, w io.Writer, mode string) (*Display, error) {
	d, err := progressui.NewDisplay(w, progressui.DisplayMode(mode))
	if err != nil && mode == string(progressui.TtyMode) {
		// tty asked for where there is no terminal (a CI log, a pipe):
		// plain progress says the same, and the build goes on.
		fmt.Fprintf(w, "progress: tty output needs a terminal (%v); showing plain progress\n", err)
		d, err = progressui.NewDisplay(w, progressui.PlainMode)
	}
	if err != nil {
		return nil, err
	}
	p := &Display{merged: make(chan *bkclient.SolveStatus), done: make(chan error, 1)}
	go func() {
		// The display must drain until every solve closed its channel, even
		// after ctx is cancelled, or a solve would block sending its status.
		_, err := d.UpdateFrom(context.WithoutCancel(ctx), p.merged)
		p.done <- err
	}()
	return p, nil
}

// Solve implements Progress. Vertices are re-keyed per prefix: BuildKit
// gives identical steps of two platforms one digest, and progressui would
// draw them as one line (buildx only renames them).
func (p *Display) Solve(prefix string) chan *bkclient.SolveStatus {
	ch := make(chan *bkclient.SolveStatus)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for s := range ch {
			p.merged <- prefixStatus(prefix, s)
		}
	}()
	return ch
}

// Step implements Progress.
func (p *Display) Step(name string) func(error) {
	ch := p.Solve("mab")
	dgst := digest.FromString(name + time.Now().String())
	start := time.Now()
	ch <- &bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{{Digest: dgst, Name: name, Started: &start}}}
	return func(err error) {
		end := time.Now()
		v := &bkclient.Vertex{Digest: dgst, Name: name, Started: &start, Completed: &end}
		if err != nil {
			v.Error = err.Error()
		}
		ch <- &bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{v}}
		close(ch)
	}
}

// Wait returns once every channel has been closed and the display has
// printed its last line.
func (p *Display) Wait() error {
	p.wg.Wait()
	close(p.merged)
	return <-p.done
}

func prefixStatus(prefix string, s *bkclient.SolveStatus) *bkclient.SolveStatus {
	if prefix == "mab" {
		return s
	}
	out := &bkclient.SolveStatus{}
	for _, v := range s.Vertexes {
		nv := *v
		nv.Digest = prefixDigest(prefix, v.Digest)
		nv.Name = "[" + prefix + "] " + v.Name
		nv.Inputs = make([]digest.Digest, len(v.Inputs))
		for i, in := range v.Inputs {
			nv.Inputs[i] = prefixDigest(prefix, in)
		}
		out.Vertexes = append(out.Vertexes, &nv)
	}
	for _, st := range s.Statuses {
		ns := *st
		ns.Vertex = prefixDigest(prefix, st.Vertex)
		out.Statuses = append(out.Statuses, &ns)
	}
	for _, l := range s.Logs {
		nl := *l
		nl.Vertex = prefixDigest(prefix, l.Vertex)
		out.Logs = append(out.Logs, &nl)
	}
	for _, w := range s.Warnings {
		nw := *w
		nw.Vertex = prefixDigest(prefix, w.Vertex)
		out.Warnings = append(out.Warnings, &nw)
	}
	return out
}

func prefixDigest(prefix string, d digest.Digest) digest.Digest {
	if d == "" {
		return d
	}
	return digest.FromString(prefix + "\x00" + d.String())
}
