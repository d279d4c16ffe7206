package merge

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestMergeMatchesGoldenIndex(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		file string
		mt   types.MediaType
		opts []Option
	}{
		{"docker-list.json", "", nil},
		{"oci-index-annotated.json", types.OCIManifestSchema1, []Option{WithAnnotations(map[string]string{"org.opencontainers.image.source": "https://example.com/app"})}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			repo := repoIn(t, testRegistry(t), "app")
			var sources []Source
			for i, p := range []v1.Platform{amd64, arm64, armv7} {
				d := push(t, repo, p.Architecture+p.Variant, fixedImage(t, p, "layer "+string(rune('a'+i)), c.mt))
				sources = append(sources, Source{Ref: d})
			}
			pub, err := Merge(ctx, repo.Tag("1.4"), sources, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := remote.Get(repo.Tag("1.4"))
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != pub.Digest {
				t.Errorf("registry serves %s, Merge reported %s", got.Digest, pub.Digest)
			}
			golden(t, c.file, got.Manifest)
		})
	}
}

func TestMergeMediaTypeRule(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	docker := []Source{
		{Ref: push(t, repo, "d1", platformImage(t, amd64, ""))},
		{Ref: push(t, repo, "d2", platformImage(t, arm64, ""))},
	}
	mixed := []Source{docker[0], {Ref: push(t, repo, "o1", platformImage(t, arm64, types.OCIManifestSchema1))}}
	note := WithAnnotations(map[string]string{"k": "v"})
	cases := []struct {
		name    string
		sources []Source
		opts    []Option
		want    types.MediaType
		wantErr string
	}{
		{"auto, all Docker", docker, nil, types.DockerManifestList, ""},
		{"auto, one OCI", mixed, nil, types.OCIImageIndex, ""},
		{"auto with annotations", docker, []Option{note}, types.OCIImageIndex, ""},
		{"oci asked", docker, []Option{WithMediaType(MediaTypeOCI)}, types.OCIImageIndex, ""},
		{"docker asked, OCI child", mixed, []Option{WithMediaType(MediaTypeDocker)}, "", "cannot list"},
		{"docker asked, annotations", docker, []Option{WithMediaType(MediaTypeDocker), note}, "", "no annotations"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pub, err := Merge(ctx, repo.Tag("mt"), c.sources, c.opts...)
			if c.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrDockerList) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pub.MediaType != c.want {
				t.Errorf("media type %s, want %s", pub.MediaType, c.want)
			}
			if c.opts != nil && pub.MediaType == types.OCIImageIndex && len(c.opts) == 1 && pub.Manifest.Annotations["k"] != "v" && c.name == "auto with annotations" {
				t.Errorf("annotations lost: %v", pub.Manifest.Annotations)
			}
		})
	}
}

func TestMergeAmendKeepsAndReplacesPlatforms(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	oldAMD := push(t, repo, "amd64", platformImage(t, amd64, types.OCIManifestSchema1))
	oldARM, oldARMImage := attested(t, repo, "arm64-old", arm64)
	if _, err := Merge(ctx, repo.Tag("1.4"), []Source{{Ref: oldAMD}, {Ref: oldARM}}); err != nil {
		t.Fatal(err)
	}
	newARM := push(t, repo, "arm64-new", platformImage(t, arm64, types.OCIManifestSchema1))
	newV7 := push(t, repo, "armv7", platformImage(t, armv7, types.OCIManifestSchema1))
	pub, err := Merge(ctx, repo.Tag("1.4"), []Source{{Ref: newARM}, {Ref: newV7}}, WithAmend(true))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range pub.Manifest.Manifests {
		got = append(got, FormatPlatform(d.Platform)+"@"+d.Digest.String()[7:14])
		if d.Digest == oldARMImage || d.Annotations[AnnotationReferenceDigest] == oldARMImage.String() {
			t.Errorf("the replaced arm64 image or its attestation is still listed: %+v", d)
		}
	}
	want := []string{
		"linux/amd64@" + oldAMD.DigestStr()[7:14],
		"linux/arm64@" + newARM.DigestStr()[7:14],
		"linux/arm/v7@" + newV7.DigestStr()[7:14],
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("children %v, want %v", got, want)
	}
}

func TestMergeAmendOfMissingTargetCreatesIt(t *testing.T) {
	repo := repoIn(t, testRegistry(t), "app")
	src := push(t, repo, "a", platformImage(t, arm64, ""))
	pub, err := Merge(context.Background(), repo.Tag("new"), []Source{{Ref: src}}, WithAmend(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(pub.Manifest.Manifests) != 1 {
		t.Errorf("%d children, want 1", len(pub.Manifest.Manifests))
	}
}

func TestMergeCopiesSourcesFromOtherRepositoriesAndRegistries(t *testing.T) {
	ctx := context.Background()
	var mounts, uploadsA int
	hostA := wrappedRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
				if r.URL.Query().Get("mount") != "" {
					mounts++
				} else {
					uploadsA++
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	hostB := testRegistry(t)
	a, imgA := attested(t, repoIn(t, hostA, "team/amd64"), "1.4", amd64)
	b := push(t, repoIn(t, hostB, "mirror/arm"), "1.4", platformImage(t, armv7, ""))
	target := repoIn(t, hostA, "app").Tag("1.4")
	armTag, _ := name.NewTag(hostB + "/mirror/arm:1.4")
	pub, err := Merge(ctx, target, []Source{{Ref: a}, {Ref: armTag}}, WithJobs(1))
	if err != nil {
		t.Fatal(err)
	}
	if pub.Copied != 3 {
		t.Errorf("copied %d children, want 3 (2 images, 1 attestation)", pub.Copied)
	}
	idx, err := remote.Index(target)
	if err != nil {
		t.Fatal(err)
	}
	// validate.Index reads every child and blob through the target repository.
	if err := validate.Index(idx); err != nil {
		t.Fatalf("the target repository does not hold every child: %v", err)
	}
	m, _ := idx.IndexManifest()
	if m.Manifests[0].Digest != imgA || m.Manifests[1].Digest.String() != b.DigestStr() {
		t.Errorf("children %v", m.Manifests)
	}
	if mounts == 0 {
		t.Error("no blob was mounted from the other repository of the same registry")
	}
}
