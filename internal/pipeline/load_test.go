package pipeline

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/internal/platform"
)

// archiveFiles reads a tar stream into a map of its regular files.
func archiveFiles(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files[h.Name], _ = io.ReadAll(tr)
		}
	}
}

func TestLoadWithTheContainerdStoreLoadsTheWholeIndex(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	w.store = builder.DockerStore{Containerd: true, Driver: "overlayfs", Version: "27.5.1"}
	p := w.plan(func(o *Options) { o.Load = true })
	var stderr bytes.Buffer
	res, err := w.runner().Run(context.Background(), p, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(w.loaded) != 0 || len(w.archives) != 1 {
		t.Fatalf("pulled %v and loaded %d archives, want one archive and no pull", w.loaded, len(w.archives))
	}
	files := archiveFiles(t, w.archives[0])
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %s (%v)", files["index.json"], err)
	}
	top := index.Manifests[0]
	if top.Digest != res.Digest || top.Annotations["io.containerd.image.name"] != p.Final.String() {
		t.Errorf("index.json lists %s as %v, want %s as %s", top.Digest, top.Annotations, res.Digest, p.Final)
	}
	for _, o := range res.Platforms {
		if _, ok := files["blobs/sha256/"+strings.TrimPrefix(o.Digest, "sha256:")]; !ok {
			t.Errorf("the archive lacks %s's manifest", platform.Format(o.Target.Platform))
		}
	}
	if !strings.Contains(stderr.String(), "--load: Docker 27.5.1 has the containerd image store (overlayfs): loaded every platform of the index as "+p.Final.String()) {
		t.Errorf("stderr does not say which store:\n%s", stderr.String())
	}
}

func TestLoadPlatformWithTheClassicStore(t *testing.T) {
	w := newWorld(t, amd64Host("fake://default"))
	w.store = builder.DockerStore{Driver: "overlay2", Version: "20.10.24"}
	p := w.plan(func(o *Options) { o.Load, o.LoadPlatform = true, "linux/arm64" })
	var stderr bytes.Buffer
	res, err := w.runner().Run(context.Background(), p, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	want := p.Final.Context().Digest(res.Platforms[1].Digest).String() + " as " + p.Final.String() + "," + p.Targets[1].Tag.String()
	if len(w.loaded) != 1 || w.loaded[0] != want || len(w.archives) != 0 {
		t.Errorf("loaded %v and %d archives, want [%s]", w.loaded, len(w.archives), want)
	}
	if !strings.Contains(stderr.String(), "--load: Docker 20.10.24 has the classic image store (overlay2): loaded linux/arm64 as ") {
		t.Errorf("stderr does not say which store:\n%s", stderr.String())
	}
}

func TestParseOutput(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // Kind and path, or the error
	}{
		{"type=oci,dest=app.tar", "OCI archive app.tar"},
		{"type=oci,dest=out,tar=false", "OCI layout folder out"},
		{"dest=app.tar,type=oci,tar=true", "OCI archive app.tar"},
		{"type=oci,dest=a,dest=b", "dest is given twice"},
		{"type=docker,dest=a", "unknown type \"docker\""},
		{"type=oci,dest=a,name=x", "unknown key \"name\""},
	} {
		o, err := ParseOutput(c.in, false)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = o.Dest.Kind() + " " + o.Dest.Path
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("ParseOutput(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
