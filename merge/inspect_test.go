package merge

import (
	"errors"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestListingForPlatform(t *testing.T) {
	desc := func(n byte, p v1.Platform, ann map[string]string) v1.Descriptor {
		return v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(string(n), 64)}, Platform: &p, Annotations: ann}
	}
	l := &Listing{Ref: "r.example.com/app:1", Index: true}
	for _, d := range []v1.Descriptor{
		desc('1', v1.Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}, nil),
		desc('2', v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, nil),
		desc('3', v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1"}, nil),
		desc('4', v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.1"}, nil),
		desc('5', v1.Platform{OS: "unknown", Architecture: "unknown"}, map[string]string{AnnotationReferenceType: attestationManifest, AnnotationReferenceDigest: "sha256:" + strings.Repeat("2", 64)}),
	} {
		l.Children = append(l.Children, ChildOf(d))
	}
	cases := []struct {
		want    string
		digit   byte // of the child picked; 0 for an error
		errText string
	}{
		{"linux/arm64", '2', ""},    // arm64/v8 is arm64
		{"linux/amd64", '1', ""},    // a variant left out matches the only amd64
		{"linux/amd64/v3", '1', ""}, // and so does the exact one
		{"linux/amd64/v2", 0, "has no linux/amd64/v2: it has linux/amd64/v3, linux/arm64/v8, windows(10.0.17763.1)/amd64, windows(10.0.20348.1)/amd64"},
		{"windows(10.0.20348.1)/amd64", '4', ""},
		{"windows/amd64", 0, "lists windows/amd64 more than once (windows(10.0.17763.1)/amd64, windows(10.0.20348.1)/amd64): name the OS version"},
		{"unknown/unknown", 0, "has no"}, // attestations are never picked
	}
	for _, c := range cases {
		var want v1.Platform
		if c.want == "unknown/unknown" {
			want = v1.Platform{OS: "unknown", Architecture: "unknown"}
		} else {
			var err error
			if want, err = ParsePlatform(c.want); err != nil {
				t.Fatal(err)
			}
		}
		got, err := l.ForPlatform(want)
		if c.digit == 0 {
			if err == nil || !strings.Contains(err.Error(), c.errText) || !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: err = %v, want %q matching ErrNotFound", c.want, err, c.errText)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.want, err)
			continue
		}
		if len(got.Children) != 1 || got.Children[0].Digest.Hex[0] != c.digit || got.Digest != l.Digest || len(l.Children) != 5 {
			t.Errorf("%s: picked %+v", c.want, got.Children)
		}
	}
}
