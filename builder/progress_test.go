package builder

import (
	"bytes"
	"context"
	"strings"
	"testing"

	bkclient "github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

func TestPrefixStatusKeepsPlatformsApart(t *testing.T) {
	shared := digest.FromString("context transfer")
	input := digest.FromString("base")
	s := &bkclient.SolveStatus{
		Vertexes: []*bkclient.Vertex{{Digest: shared, Name: "load build context", Inputs: []digest.Digest{input}}},
		Statuses: []*bkclient.VertexStatus{{Vertex: shared, ID: "x"}},
		Logs:     []*bkclient.VertexLog{{Vertex: shared, Data: []byte("hi")}},
		Warnings: []*bkclient.VertexWarning{{Vertex: shared}},
	}
	a := prefixStatus("linux/amd64", s)
	b := prefixStatus("linux/arm64", s)
	if a.Vertexes[0].Name != "[linux/amd64] load build context" {
		t.Errorf("name = %q", a.Vertexes[0].Name)
	}
	if a.Vertexes[0].Digest == b.Vertexes[0].Digest || a.Vertexes[0].Digest == shared {
		t.Error("the same vertex of two platforms keeps one digest: the display would merge them")
	}
	if a.Statuses[0].Vertex != a.Vertexes[0].Digest || a.Logs[0].Vertex != a.Vertexes[0].Digest || a.Warnings[0].Vertex != a.Vertexes[0].Digest {
		t.Error("statuses, logs and warnings no longer point at their vertex")
	}
	if a.Vertexes[0].Inputs[0] != prefixDigest("linux/amd64", input) {
		t.Error("inputs were not renamed with the vertex")
	}
	if s.Vertexes[0].Name != "load build context" || s.Vertexes[0].Digest != shared {
		t.Error("prefixStatus changed its input")
	}
}

func TestTTYProgressWithoutATerminalFallsBackToPlain(t *testing.T) {
	var out bytes.Buffer
	d, err := NewDisplay(context.Background(), &out, "tty")
	if err != nil {
		t.Fatalf("--progress tty into a buffer: %v", err)
	}
	done := d.Step("merging 2 platforms")
	done(nil)
	if err := d.Wait(); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.HasPrefix(s, "progress: tty output needs a terminal") || !strings.Contains(s, "merging 2 platforms") {
		t.Errorf("output = %q, want the fallback line, then plain progress", s)
	}
}
