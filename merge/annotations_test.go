package merge

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestDescriptorAnnotationsLandOnImageDescriptorsOnly(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	a, imgA := attested(t, repo, "amd64", amd64)
	b, imgB := attested(t, repo, "arm64", arm64)
	pub, err := mergeDigests(ctx, repo.Tag("1.4"), []name.Digest{a, b}, WithDescriptorAnnotations(
		DescriptorAnnotations{Platform: &arm64, Annotations: map[string]string{"com.example.arch": "arm64", "k": "arm"}},
		DescriptorAnnotations{Annotations: map[string]string{"com.example.d": "1", "k": "all"}},
	))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(repo.Tag("1.4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("validate: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex || pub.MediaType != types.OCIImageIndex {
		t.Errorf("media type %s", m.MediaType)
	}
	if len(m.Annotations) != 0 {
		t.Errorf("index annotations %v, want none", m.Annotations)
	}
	want := map[v1.Hash]map[string]string{
		imgA: {"com.example.d": "1", "k": "all"},
		// The platform's own set wins, whatever the order given.
		imgB: {"com.example.d": "1", "k": "arm", "com.example.arch": "arm64"},
	}
	if len(m.Manifests) != 4 {
		t.Fatalf("%d children", len(m.Manifests))
	}
	for _, d := range m.Manifests {
		if d.Annotations[AnnotationReferenceType] == attestationManifest {
			if len(d.Annotations) != 2 {
				t.Errorf("attestation %s annotated: %v", d.Digest, d.Annotations)
			}
			continue
		}
		if !maps.Equal(d.Annotations, want[d.Digest]) {
			t.Errorf("%s: %v, want %v", FormatPlatform(d.Platform), d.Annotations, want[d.Digest])
		}
	}
}

func TestDescriptorAnnotationsMergeOverTheDescriptorsOwn(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	amd := push(t, repo, "amd64", platformImage(t, amd64, ""))
	arm := push(t, repo, "arm64", platformImage(t, arm64, ""))
	if _, err := mergeDigests(ctx, repo.Tag("1.4"), []name.Digest{amd}, WithDescriptorAnnotations(
		DescriptorAnnotations{Annotations: map[string]string{"kept": "1", "k": "old"}},
	)); err != nil {
		t.Fatal(err)
	}
	// Amending keeps amd64's descriptor with its annotations; the new set
	// goes over them, and onto the new arm64 image.
	pub, err := mergeDigests(ctx, repo.Tag("1.4"), []name.Digest{arm}, WithAmend(true), WithDescriptorAnnotations(
		DescriptorAnnotations{Annotations: map[string]string{"k": "new"}},
	))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, d := range pub.Manifest.Manifests {
		got[d.Platform.Architecture] = d.Annotations
	}
	if want := map[string]string{"kept": "1", "k": "new"}; !maps.Equal(got["amd64"], want) {
		t.Errorf("amd64: %v, want %v", got["amd64"], want)
	}
	if want := map[string]string{"k": "new"}; !maps.Equal(got["arm64"], want) {
		t.Errorf("arm64: %v, want %v", got["arm64"], want)
	}
}

func TestDescriptorAnnotationsNeedAnOCIIndex(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	docker := []name.Digest{push(t, repo, "d1", platformImage(t, amd64, "")), push(t, repo, "d2", platformImage(t, arm64, ""))}
	note := WithDescriptorAnnotations(DescriptorAnnotations{Annotations: map[string]string{"k": "v"}})

	pub, err := mergeDigests(ctx, repo.Tag("auto"), docker)
	if err != nil || pub.MediaType != types.DockerManifestList {
		t.Fatalf("without annotations: %v, %v (a Docker list expected)", pub, err)
	}
	pub, err = mergeDigests(ctx, repo.Tag("auto"), docker, note)
	if err != nil || pub.MediaType != types.OCIImageIndex {
		t.Fatalf("auto with descriptor annotations: %v, %v (an OCI index expected)", pub, err)
	}
	_, err = mergeDigests(ctx, repo.Tag("docker"), docker, note, WithMediaType(MediaTypeDocker))
	if !errors.Is(err, ErrDockerList) || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "descriptors have no annotations") {
		t.Fatalf("docker asked: %v", err)
	}
	if _, err := remote.Head(repo.Tag("docker")); err == nil {
		t.Error("refused, yet the tag was written")
	}
	// An empty set asks for nothing.
	pub, err = mergeDigests(ctx, repo.Tag("empty"), docker, WithDescriptorAnnotations(DescriptorAnnotations{Platform: &amd64}))
	if err != nil || pub.MediaType != types.DockerManifestList {
		t.Fatalf("empty set: %v, %v", pub, err)
	}
}

func TestDescriptorAnnotationsRefused(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	srcs := []name.Digest{push(t, repo, "d1", platformImage(t, amd64, "")), push(t, repo, "d2", platformImage(t, arm64, ""))}
	s390x := v1.Platform{OS: "linux", Architecture: "s390x"}
	for _, c := range []struct {
		set  DescriptorAnnotations
		want string
	}{
		{DescriptorAnnotations{Platform: &s390x, Annotations: map[string]string{"k": "v"}}, "descriptor annotations for linux/s390x, but the index has no image of that platform"},
		{DescriptorAnnotations{Annotations: map[string]string{AnnotationReferenceType: attestationManifest}}, "marks attestation manifests"},
	} {
		_, err := mergeDigests(ctx, repo.Tag("x"), srcs, WithDescriptorAnnotations(c.set))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.set, err, c.want)
		}
	}
	if _, err := remote.Head(repo.Tag("x")); err == nil {
		t.Error("refused, yet the tag was written")
	}
}

func TestManifestAnnotationsStayOffTheDescriptor(t *testing.T) {
	ctx := context.Background()
	repo := repoIn(t, testRegistry(t), "app")
	img := mutate.Annotations(platformImage(t, amd64, types.OCIManifestSchema1), map[string]string{"com.example.arch": "amd64"}).(v1.Image)
	amd := push(t, repo, "amd64", img)
	// The target holds the annotated image alone: an amend reads it too.
	if err := remote.Write(repo.Tag("1.4"), img); err != nil {
		t.Fatal(err)
	}
	arm := push(t, repo, "arm64", platformImage(t, arm64, ""))
	for _, c := range []struct {
		name string
		srcs []name.Digest
		opts []Option
	}{
		{"source", []name.Digest{amd, arm}, nil},
		{"amended target", []name.Digest{arm}, []Option{WithAmend(true)}},
	} {
		idx, err := Assemble(ctx, repo.Tag("1.4"), sourcesOf(c.srcs), c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range idx.Manifest.Manifests {
			if len(d.Annotations) != 0 {
				t.Errorf("%s: %s lists the manifest's annotations on its descriptor: %v", c.name, FormatPlatform(d.Platform), d.Annotations)
			}
		}
	}
}

func sourcesOf(ds []name.Digest) []Source {
	out := make([]Source, len(ds))
	for i, d := range ds {
		out[i] = Source{Ref: d}
	}
	return out
}
