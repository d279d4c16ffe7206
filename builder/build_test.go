package builder

import (
	"encoding/base64"
	"testing"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
)

func TestImageExportPushesByDigestWithoutATag(t *testing.T) {
	req := Request{InsecurePush: true, Annotations: map[string]string{"org.opencontainers.image.title": "x"}}
	tgt := Target{Platform: platforms.MustParse("linux/arm64"), Name: "127.0.0.1:5000/team/app:1.4-arm64"}
	e := (&Client{}).export(req, tgt)
	want := map[string]string{
		"name": "127.0.0.1:5000/team/app", "push": "true", "push-by-digest": "true",
		"registry.insecure": "true", "annotation.org.opencontainers.image.title": "x",
	}
	if e.Type != "image" || len(e.Attrs) != len(want) {
		t.Fatalf("export %s %v, want image %v", e.Type, e.Attrs, want)
	}
	for k, v := range want {
		if e.Attrs[k] != v {
			t.Errorf("%s = %q, want %q", k, e.Attrs[k], v)
		}
	}
	// A Docker daemon's builder stores the image under its arch tag and
	// pushes it by tag afterwards.
	e = (&Client{docker: &dockerDaemon{}}).export(req, tgt)
	if e.Type != "moby" || e.Attrs["name"] != tgt.Name || e.Attrs["push-by-digest"] != "" {
		t.Errorf("docker export %s %v", e.Type, e.Attrs)
	}
}

func TestPushedDescriptorComesFromTheExporterResponse(t *testing.T) {
	const d = "sha256:0123456789012345678901234567890123456789012345678901234567890123"
	desc := `{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"` + d + `","size":856}`
	resp := map[string]string{exptypes.ExporterImageDigestKey: d, exptypes.ExporterImageDescriptorKey: base64.StdEncoding.EncodeToString([]byte(desc))}
	if mt, size := pushedDescriptor(resp, d); mt != "application/vnd.oci.image.index.v1+json" || size != 856 {
		t.Errorf("got %q, %d", mt, size)
	}
	if mt, size := pushedDescriptor(resp, "sha256:other"); mt != "" || size != 0 {
		t.Errorf("a descriptor of another digest was taken: %q, %d", mt, size)
	}
	if mt, _ := pushedDescriptor(map[string]string{}, d); mt != "" {
		t.Errorf("no descriptor gave %q", mt)
	}
}
