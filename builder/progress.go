package builder

import (
	"context"
	"io"
	"sync"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
)

// display shows the progress of several solves in one display. Each solve
// writes to its own channel; its vertices are renamed "[prefix] name" and
// given digests of their own, so that identical steps of two platforms (the
// context transfer, say) stay two lines instead of merging into one.
type display struct {
	merged chan *bkclient.SolveStatus
	wg     sync.WaitGroup
	done   chan error
}

// newDisplay starts a display in mode (auto, tty, plain, quiet, rawjson)
// writing to w. Call channel once per solve, then wait.
func newDisplay(ctx context.Context, w io.Writer, mode string) (*display, error) {
	d, err := progressui.NewDisplay(w, progressui.DisplayMode(mode))
	if err != nil {
		return nil, err
	}
	p := &display{merged: make(chan *bkclient.SolveStatus), done: make(chan error, 1)}
	go func() {
		// The display must drain until every solve closed its channel, even
		// after ctx is cancelled, or a solve would block sending its status.
		_, err := d.UpdateFrom(context.WithoutCancel(ctx), p.merged)
		p.done <- err
	}()
	return p, nil
}

// channel returns a channel for one solve whose statuses are shown with
// prefix. Solve closes it when it returns.
func (p *display) channel(prefix string) chan *bkclient.SolveStatus {
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

// wait returns once every channel has been closed and the display has
// printed its last line.
func (p *display) wait() error {
	p.wg.Wait()
	close(p.merged)
	return <-p.done
}

func prefixStatus(prefix string, s *bkclient.SolveStatus) *bkclient.SolveStatus {
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
