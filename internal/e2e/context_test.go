package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mab-build/mab/internal/testenv"
)

// contextDockerfile copies the whole context into the image, so every
// platform needs all of it.
const contextDockerfile = "ARG BASE\nFROM ${BASE}\nCOPY . /data/\nRUN du -s /data\n"

// TestBuildSendsContextOncePerBuilder builds three platforms from a
// context of 12 MB of random files and reads, from the plain progress, how
// much of the main context was transferred: one context with one builder
// (with --no-cache too), two with two (--node). A byte-counting relay in
// front of each buildkitd checks the same on the wire: each builder
// received the context once.
func TestBuildSendsContextOncePerBuilder(t *testing.T) {
	e := testenv.Get(t)
	for _, c := range []struct {
		name    string
		nodes   int
		noCache bool
	}{{"one builder", 1, false}, {"one builder, no cache", 1, true}, {"two builders", 2, false}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			size := writeRandomTree(t, dir, 48, 256<<10)
			writeDockerfile(t, dir, contextDockerfile)
			first := newTap(t, e.BuildkitHost)
			args := []string{"build", "--builder", first.addr, "--insecure", "--progress", "plain",
				"--platform", "linux/amd64,linux/arm64,linux/arm/v7", "--build-arg", "BASE=" + e.Base(),
				"-t", uniqueRepo(e, "ctx-once") + ":1", dir}
			if c.noCache {
				// --no-cache runs the context's vertex again after a first,
				// cached, record of it: still one transfer.
				args = append(args, "--no-cache")
			}
			taps := []*tap{first}
			if c.nodes == 2 {
				second := newTap(t, e.Node)
				taps = append(taps, second)
				args = append([]string{"build", "--node", "linux/arm64=" + second.addr}, args[1:]...)
			}
			r := e.Run(t, args...)
			if r.ExitCode != 0 {
				t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
			}
			shown, n := contextTransferred(r.Stderr)
			want := int64(c.nodes) * size
			t.Logf("context %d bytes; progress shows %d bytes in %d transfers (want %d); wire bytes per builder: %v",
				size, shown, n, want, tapsSent(taps))
			if shown < want*9/10 || shown > want*11/10 {
				t.Errorf("the progress shows %d bytes of context transferred in %d transfers, want %d (the %d-byte context once per builder, ±10%%)",
					shown, n, want, size)
			}
			for i, tp := range taps {
				if got := tp.sent(); got < size || got > size*3/2 {
					t.Errorf("builder %d received %d bytes, want the %d-byte context once (at most 1.5×)", i+1, got, size)
				}
			}
		})
	}
}

// writeRandomTree writes n files of size random (incompressible) bytes
// into dir, spread over subfolders of 64 files, and returns their total
// size. Each call writes new content.
func writeRandomTree(tb testing.TB, dir string, n, size int) int64 {
	tb.Helper()
	rng := rand.NewChaCha8([32]byte(fmt.Appendf(nil, "%032d", time.Now().UnixNano())))
	buf := make([]byte, size)
	for i := range n {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", i/64))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			tb.Fatal(err)
		}
		rng.Read(buf)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d.bin", i)), buf, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return int64(n) * int64(size)
}

var (
	plainLine    = regexp.MustCompile(`^#(\d+) (.*)$`)
	contextBytes = regexp.MustCompile(`^transferring context: ([0-9.]+)(B|kB|MB|GB|TB)\b`)
	byteUnits    = map[string]float64{"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
)

// contextTransferred reads plain progress and returns the bytes of main
// context transferred (the last size shown by each "load build context"
// vertex, summed) and the number of such transfers.
func contextTransferred(progress string) (int64, int) {
	names := map[string]string{}
	last := map[string]float64{}
	for _, line := range strings.Split(progress, "\n") {
		m := plainLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		id, rest := m[1], m[2]
		if _, ok := names[id]; !ok {
			names[id] = rest // a vertex's first line is its name
			continue
		}
		if b := contextBytes.FindStringSubmatch(rest); b != nil && strings.HasSuffix(names[id], "load build context") {
			v, _ := strconv.ParseFloat(b[1], 64)
			last[id] = v * byteUnits[b[2]]
		}
	}
	var sum float64
	for _, v := range last {
		sum += v
	}
	return int64(sum), len(last)
}

// tap relays a unix socket of the test's own to a buildkitd and counts the
// bytes the client sends through it: the wire's view of a build.
type tap struct {
	addr  string
	n     atomic.Int64
	conns sync.WaitGroup
}

// newTap starts a relay to target (unix://…); it stops with the test.
func newTap(t *testing.T, target string) *tap {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "bk.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{addr: "unix://" + sock}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("unix", strings.TrimPrefix(target, "unix://"))
			if err != nil {
				c.Close()
				continue
			}
			tp.conns.Add(1)
			go func() {
				defer tp.conns.Done()
				n, _ := io.Copy(s, c)
				tp.n.Add(n)
				s.(*net.UnixConn).CloseWrite()
			}()
			go func() {
				io.Copy(c, s)
				c.Close()
			}()
		}
	}()
	return tp
}

// sent waits until every client connection has ended and returns the
// bytes the clients sent.
func (tp *tap) sent() int64 {
	tp.conns.Wait()
	return tp.n.Load()
}

func tapsSent(taps []*tap) []int64 {
	var out []int64
	for _, tp := range taps {
		out = append(out, tp.sent())
	}
	return out
}
