package builder

import (
	"testing"

	"github.com/containerd/platforms"
)

func TestImageOptionsBecomeImageExporterAttributes(t *testing.T) {
	level, oci := 19, true
	req := Request{Image: ImageOptions{SourceDateEpoch: "1700000000", Compression: "zstd", CompressionLevel: &level, ForceCompression: true, OCIMediaTypes: &oci}}
	tgt := Target{Platform: platforms.MustParse("linux/arm64"), Name: "127.0.0.1:5000/app:1-arm64"}
	e := (&Client{}).export(req, tgt)
	want := map[string]string{
		"rewrite-timestamp": "true", "compression": "zstd", "compression-level": "19",
		"force-compression": "true", "oci-mediatypes": "true",
		"name": "127.0.0.1:5000/app", "push": "true", "push-by-digest": "true",
	}
	if len(e.Attrs) != len(want) {
		t.Errorf("attrs %v, want %v", e.Attrs, want)
	}
	for k, v := range want {
		if e.Attrs[k] != v {
			t.Errorf("%s = %q, want %q", k, e.Attrs[k], v)
		}
	}
}

func TestZeroImageOptionsAddNothing(t *testing.T) {
	if got := (ImageOptions{}).exportAttrs(); len(got) != 0 {
		t.Errorf("zero ImageOptions gave %v, want BuildKit's defaults (no attribute)", got)
	}
	off := false
	if got := (ImageOptions{OCIMediaTypes: &off}).exportAttrs(); len(got) != 1 || got["oci-mediatypes"] != "false" {
		t.Errorf("OCIMediaTypes=false gave %v", got)
	}
}
