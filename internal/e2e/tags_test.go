package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/internal/testenv"
)

// registryTags is what GET /v2/REPO/tags/list answers for repo
// (REGISTRY/NAME), sorted; none when the repository has no tag.
func registryTags(t *testing.T, repo string) []string {
	t.Helper()
	host, path, _ := strings.Cut(repo, "/")
	resp, err := http.Get("http://" + host + "/v2/" + path + "/tags/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Tags []string `json:"tags"`
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("tags of %s: %d %v", repo, resp.StatusCode, err)
	}
	slices.Sort(list.Tags)
	return list.Tags
}

func readMetadata(t *testing.T, path string) pipeline.Metadata {
	t.Helper()
	var m pipeline.Metadata
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("metadata %s: %v\n%s", path, err, b)
	}
	return m
}

// helloContext is a context whose image differs by the build arg V.
func helloContext(t *testing.T) string {
	dir := t.TempDir()
	writeDockerfile(t, dir, "ARG BASE\nFROM ${BASE}\nARG V\nRUN echo $V > /v\n")
	return dir
}

func TestBuildOneIndexUnderSeveralTagsInTwoRepositories(t *testing.T) {
	e := testenv.Get(t)
	repo, other := uniqueRepo(e, "tags"), uniqueRepo(e, "tags-other")+"/app"
	md := filepath.Join(t.TempDir(), "build.json")
	tags := []string{repo + ":1.4", repo + ":latest", other + ":1.4"}
	r := e.Run(t, "build", "--insecure", "--progress", "quiet", "--platform", "linux/amd64,linux/arm64",
		"--build-arg", "BASE="+e.Base(), "--build-arg", "V=tags", "--metadata-file", md,
		"-t", tags[0], "-t", tags[1], "-t", tags[2], helloContext(t))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	printed := strings.TrimSpace(r.Stdout)
	for _, tag := range tags {
		d, err := remote.Head(mustRef(t, tag))
		if err != nil || d.Digest.String() != printed {
			t.Errorf("%s holds %v (%v), mab printed %s", tag, d, err, printed)
		}
	}
	// The arch tags, written after the index, are its children.
	idx, err := remote.Index(mustRef(t, tags[0]))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	for i, arch := range []string{"amd64", "arm64"} {
		d, err := remote.Head(mustRef(t, repo+":1.4-"+arch))
		if err != nil || d.Digest != m.Manifests[i].Digest {
			t.Errorf("arch tag %s holds %v (%v), the index lists %s", arch, d, err, m.Manifests[i].Digest)
		}
	}
	if got := registryTags(t, other); !slices.Equal(got, []string{"1.4"}) {
		t.Errorf("the other repository has tags %v, want only 1.4 (arch tags live with the first tag)", got)
	}
	meta := readMetadata(t, md)
	if meta.ImageDigest != printed || meta.ImageName != strings.Join(tags, ",") || !slices.Equal(meta.Tags, tags) {
		t.Errorf("metadata: containerimage.digest %s, image.name %s, tags %v", meta.ImageDigest, meta.ImageName, meta.Tags)
	}
}

func TestBuildPushByDigestTagsOnlyTheFinalTags(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "bydigest")
	r := e.Run(t, "build", "--insecure", "--progress", "quiet", "--push-by-digest", "--platform", "linux/amd64,linux/arm64",
		"--build-arg", "BASE="+e.Base(), "--build-arg", "V=bydigest", "-t", repo+":1.4", "-t", repo+":latest", helloContext(t))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	if got := registryTags(t, repo); !slices.Equal(got, []string{"1.4", "latest"}) {
		t.Errorf("tags %v, want only the final tags 1.4 and latest", got)
	}
	if !strings.Contains(r.Stderr, "linux/arm64") {
		t.Errorf("no summary:\n%s", r.Stderr)
	}
}

func TestBuildMatrixJobPrintsItsDigestAndTagsNothing(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "matrix")
	md := filepath.Join(t.TempDir(), "arm64.json")
	r := e.Run(t, "build", "--insecure", "--progress", "quiet", "--no-merge", "--push-by-digest", "--metadata-file", md,
		"--platform", "linux/arm64", "--build-arg", "BASE="+e.Base(), "--build-arg", "V=matrix", "-t", repo, helloContext(t))
	if r.ExitCode != 0 {
		t.Fatalf("exit %d:\n%s", r.ExitCode, r.Stderr)
	}
	d := strings.TrimSuffix(r.Stdout, "\n")
	if !strings.HasPrefix(d, "sha256:") || strings.Contains(d, "\n") {
		t.Fatalf("stdout %q, want exactly one digest", r.Stdout)
	}
	if got := registryTags(t, repo); len(got) != 0 {
		t.Errorf("tags %v, want none", got)
	}
	if _, err := remote.Head(mustRef(t, repo+"@"+d)); err != nil {
		t.Errorf("the printed digest is not in the repository: %v", err)
	}
	meta := readMetadata(t, md)
	if meta.ImageDigest != d || meta.ImageName != repo || meta.Merged || !meta.PushByDigest || meta.Stage != pipeline.StageBuilt {
		t.Errorf("metadata: containerimage.digest %s, image.name %s, merged %v, pushByDigest %v, stage %s", meta.ImageDigest, meta.ImageName, meta.Merged, meta.PushByDigest, meta.Stage)
	}
	if len(meta.Platforms) != 1 || meta.Platforms[0].Ref != repo+"@"+d || meta.Platforms[0].Tag != "" || meta.Platforms[0].MediaType == "" || meta.Platforms[0].Size == 0 {
		t.Errorf("metadata platforms %+v", meta.Platforms)
	}
	if meta.ImageDescriptor == nil || meta.ImageDescriptor.Digest != d || meta.ImageDescriptor.MediaType != meta.Platforms[0].MediaType {
		t.Errorf("containerimage.descriptor %+v", meta.ImageDescriptor)
	}
}
