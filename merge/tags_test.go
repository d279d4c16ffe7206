package merge

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestTagWritesTheSameBytesUnderMoreTags(t *testing.T) {
	ctx := context.Background()
	host := testRegistry(t)
	src := repoIn(t, host, "app")
	other := repoIn(t, host, "mirror/app")
	a := push(t, src, "a", platformImage(t, amd64, types.OCIManifestSchema1))
	b := push(t, src, "b", platformImage(t, arm64, types.OCIManifestSchema1))
	c := New()
	idx, err := c.Assemble(ctx, src.Tag("1.4"), []Source{{Ref: a}, {Ref: b}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, idx); err != nil {
		t.Fatal(err)
	}
	if err := c.Tag(ctx, idx, src.Tag("latest")); err != nil {
		t.Fatal(err)
	}
	// Another repository: refused by the registry until the children are there.
	if err := c.Tag(ctx, idx, other.Tag("1.4")); err == nil {
		t.Error("tagging in a repository without the children succeeded")
	}
	n, err := c.CopyTo(ctx, idx, other)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("copied %d children, want 2", n)
	}
	if err := c.Tag(ctx, idx, other.Tag("1.4")); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []name.Tag{src.Tag("1.4"), src.Tag("latest"), other.Tag("1.4")} {
		d, err := remote.Get(ref)
		if err != nil {
			t.Fatal(err)
		}
		if d.Digest != idx.Digest || string(d.Manifest) != string(idx.Raw) {
			t.Errorf("%s holds %s, want the same bytes as %s", ref, d.Digest, idx.Digest)
		}
	}
	if n, err := c.CopyTo(ctx, idx, src); err != nil || n != 0 {
		t.Errorf("copying into the index's own repository: %d, %v; want 0, nil", n, err)
	}
}

func TestPointTagsAPushedDigestByteForByte(t *testing.T) {
	ctx := context.Background()
	host := testRegistry(t)
	repo := repoIn(t, host, "app")
	d := push(t, repo, "tmp", platformImage(t, arm64, types.DockerManifestSchema2))
	c := New()
	if err := c.Point(ctx, d, repo.Tag("1.4-arm64")); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Head(repo.Tag("1.4-arm64"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest.String() != d.DigestStr() || got.MediaType != types.DockerManifestSchema2 {
		t.Errorf("the arch tag holds %s (%s), want %s as pushed", got.Digest, got.MediaType, d.DigestStr())
	}
	if err := c.Point(ctx, d, repoIn(t, host, "other").Tag("x")); !errors.Is(err, ErrInvalid) {
		t.Errorf("pointing a tag of another repository: %v, want ErrInvalid", err)
	}
}
