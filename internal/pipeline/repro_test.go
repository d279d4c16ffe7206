package pipeline

import (
	"strings"
	"testing"
)

func reproOptions(t *testing.T) Options {
	return Options{Platforms: []string{"linux/amd64"}, Tags: []string{"registry.example.com/app:1"}, ContextDir: newContext(t)}
}

func TestSourceDateEpochBecomesBuildArgAndRewrite(t *testing.T) {
	o := reproOptions(t)
	p, err := NewPlan(o, func(k string) string {
		if k == EnvSourceDateEpoch {
			return "1700000000"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Build.BuildArgs[EnvSourceDateEpoch] != "1700000000" || p.Build.Image.SourceDateEpoch != "1700000000" {
		t.Errorf("build args %v, image options %+v: want the environment's epoch in both", p.Build.BuildArgs, p.Build.Image)
	}
	o.SourceDateEpoch = "42"
	if p, err = NewPlan(o, noenv); err != nil || p.Build.BuildArgs[EnvSourceDateEpoch] != "42" {
		t.Errorf("--source-date-epoch 42: %v, %v", err, p.Build.BuildArgs)
	}
	if p, err = NewPlan(reproOptions(t), noenv); err != nil || p.Build.Image.SourceDateEpoch != "" || p.Build.BuildArgs[EnvSourceDateEpoch] != "" {
		t.Errorf("no epoch: %v, %+v", err, p.Build)
	}
}

func TestReproAndCompressionRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*Options)
		env  string
		want string
	}{
		{"epoch not a number", func(o *Options) { o.SourceDateEpoch = "yesterday" }, "", `invalid --source-date-epoch "yesterday": want whole seconds`},
		{"epoch negative", func(o *Options) { o.SourceDateEpoch = "-1" }, "", "want whole seconds"},
		{"epoch from env", func(*Options) {}, "1.5", `invalid $SOURCE_DATE_EPOCH "1.5"`},
		{"epoch overflow", func(o *Options) { o.SourceDateEpoch = "99999999999999999999" }, "", "out of range"},
		{"unknown compression", func(o *Options) { o.Compression = "lz4" }, "", `invalid --compression "lz4": want gzip, zstd, estargz`},
		{"level not a number", func(o *Options) { o.CompressionLevel = "max" }, "", `invalid --compression-level "max"`},
		{"gzip level", func(o *Options) { o.CompressionLevel = "10" }, "", "gzip takes 0 to 9"},
		{"zstd level", func(o *Options) { o.Compression, o.CompressionLevel = "zstd", "0" }, "", "zstd takes 1 to 22"},
		{"oci value", func(o *Options) { o.OCIMediaTypes = "maybe" }, "", `invalid --oci-mediatypes "maybe"`},
		{"estargz without oci", func(o *Options) { o.Compression, o.OCIMediaTypes = "estargz", "false" }, "", "needs OCI media types"},
		{"docker builder", func(o *Options) { o.Compression, o.Builder = "zstd", "docker" }, "", "stores images in the Docker daemon"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := reproOptions(t)
			c.set(&o)
			_, err := NewPlan(o, func(k string) string {
				if k == EnvSourceDateEpoch {
					return c.env
				}
				return ""
			})
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line containing %q", err, c.want)
			}
		})
	}
}

func TestZstdImpliesOCIMediaTypes(t *testing.T) {
	o := reproOptions(t)
	o.Compression, o.CompressionLevel, o.ForceCompression = "zstd", "19", true
	p, err := NewPlan(o, noenv)
	if err != nil {
		t.Fatal(err)
	}
	img := p.Build.Image
	if img.Compression != "zstd" || img.CompressionLevel == nil || *img.CompressionLevel != 19 || !img.ForceCompression || img.OCIMediaTypes == nil || !*img.OCIMediaTypes {
		t.Errorf("image options %+v", img)
	}
}
