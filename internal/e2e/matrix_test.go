package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
)

// The matrix flow of examples/github-actions and examples/gitlab-ci: one
// job per platform on a runner of that architecture, then a merge job. The
// examples' mab command lines are these functions' output with the
// examples' variables as arguments (TestCIExamplesRunTheMatrixCommands
// checks it), so the examples cannot drift from what this test runs.

// matrixJob is one runner's job.
type matrixJob struct {
	Platform, Image, Metadata, Builder string
}

// matrixBuildArgs is the job's mab build: one platform, pushed by digest,
// no tag written, the metadata file for the merge job. extra are flags
// only this environment needs (a base image from its registry).
func matrixBuildArgs(j matrixJob, context string, extra ...string) []string {
	args := []string{"build", "--platform", j.Platform, "--no-merge", "--push-by-digest",
		"-t", j.Image, "--metadata-file", j.Metadata, "--builder", j.Builder}
	return append(append(args, extra...), context)
}

// matrixMergeArgs is the merge job's mab merge: one index under every tag,
// from every job's metadata file.
func matrixMergeArgs(tags, metadata []string) []string {
	args := []string{"merge"}
	for _, t := range tags {
		args = append(args, "-t", t)
	}
	for _, m := range metadata {
		args = append(args, "--from-metadata", m)
	}
	return args
}

// matrixInspectArgs is the merge job's last step.
func matrixInspectArgs(ref string) []string { return []string{"inspect", "--verify", ref} }

// matrixMetadata is what the merge reads of a build's metadata file: mab's
// keys and buildx's.
type matrixMetadata struct {
	Platforms []struct {
		Platform, Digest, Ref string
	} `json:"platforms"`
	ContainerimageDigest     string         `json:"containerimage.digest"`
	ContainerimageDescriptor *v1.Descriptor `json:"containerimage.descriptor"`
	ImageName                string         `json:"image.name"`
}

func readMatrixMetadata(t *testing.T, path string) matrixMetadata {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("metadata file: %v", err)
	}
	var m matrixMetadata
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("metadata file %s: %v\n%s", path, err, b)
	}
	return m
}

func TestMatrixFlowNativeRunners(t *testing.T) {
	e := testenv.Get(t)
	repo := uniqueRepo(e, "matrix")
	dir := t.TempDir()
	hello := filepath.Join(e.Root, "examples", "hello")
	// The two runners: the first reaches its BuildKit by address, as the
	// GitLab job reaches its service; the second through a builder
	// instance that buildx stored, as the GitHub job names the one
	// docker/setup-buildx-action made (a remote-driver instance here).
	bx := newBuildxStore(t, e)
	bx.run(t, "create", "--name", "runner-arm64", "--driver", "remote", e.Node)
	jobs := []matrixJob{
		{Platform: "linux/amd64", Image: repo + ":1.4", Metadata: filepath.Join(dir, "amd64.json"), Builder: e.BuildkitHost},
		{Platform: "linux/arm64", Image: repo + ":1.4", Metadata: filepath.Join(dir, "arm64.json"), Builder: "buildx://runner-arm64"},
	}

	// The build jobs: stdout is the platform's digest, the metadata file
	// names it in mab's keys and buildx's.
	digestOf := map[string]string{}
	for _, j := range jobs {
		r := e.RunEnv(t, bx.env(), matrixBuildArgs(j, hello, "--build-arg", "BASE="+e.Base())...)
		if r.ExitCode != 0 {
			t.Fatalf("build job %s exited %d:\n%s", j.Platform, r.ExitCode, r.Stderr)
		}
		digest := strings.TrimSpace(r.Stdout)
		if !strings.HasPrefix(digest, "sha256:") || strings.Contains(digest, "\n") {
			t.Fatalf("build job %s: stdout = %q, want the platform's digest only", j.Platform, r.Stdout)
		}
		m := readMatrixMetadata(t, j.Metadata)
		if len(m.Platforms) != 1 || m.Platforms[0].Platform != j.Platform || m.Platforms[0].Digest != digest ||
			m.Platforms[0].Ref != repo+"@"+digest {
			t.Errorf("build job %s: metadata platforms = %+v, want one: %s %s %s@%s", j.Platform, m.Platforms, j.Platform, digest, repo, digest)
		}
		if m.ContainerimageDigest != digest || m.ContainerimageDescriptor == nil || m.ContainerimageDescriptor.Digest.String() != digest {
			t.Errorf("build job %s: containerimage.digest %q, descriptor %+v, want %s", j.Platform, m.ContainerimageDigest, m.ContainerimageDescriptor, digest)
		}
		if !strings.Contains(m.ImageName, repo) {
			t.Errorf("build job %s: image.name = %q, want %s", j.Platform, m.ImageName, repo)
		}
		digestOf[j.Platform] = digest
	}
	// Pushed by digest: no tag at all yet.
	if tags := craneLs(t, repo); len(tags) != 0 {
		t.Errorf("after the build jobs the repository has tags %v, want none", tags)
	}

	// The merge job.
	tags := []string{repo + ":1.4", repo + ":latest"}
	r := e.Run(t, matrixMergeArgs(tags, []string{jobs[0].Metadata, jobs[1].Metadata})...)
	if r.ExitCode != 0 {
		t.Fatalf("merge job exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	index := strings.TrimSpace(r.Stdout)
	for _, tag := range tags {
		desc, err := remote.Head(mustRef(t, tag))
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		if desc.Digest.String() != index {
			t.Errorf("%s holds %s, merge printed %q", tag, desc.Digest, index)
		}
	}
	if r := e.Run(t, matrixInspectArgs(tags[0])...); r.ExitCode != 0 {
		t.Errorf("mab inspect --verify exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	assertMatrixIndex(t, "go-containerregistry", remoteIndexManifest(t, tags[0]), digestOf)

	// Three clients mab's authors did not write read it.
	raw := runTool(t, testenv.Crane(t), "manifest", tags[0])
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(raw))); got != index {
		t.Errorf("crane manifest: the bytes hash to %s, want %s", got, index)
	}
	assertMatrixIndex(t, "crane manifest", parseIndex(t, raw), digestOf)
	assertMatrixIndex(t, "regctl manifest get", parseIndex(t, regctl(t, e, "manifest", "get", "--format", "raw-body", tags[0])), digestOf)
	assertMatrixIndex(t, "docker manifest inspect", dockerManifestInspect(t, tags[0]), digestOf)

	// Only the tags the merge job named: no arch tags.
	if got := craneLs(t, repo); !slices.Equal(got, []string{"1.4", "latest"}) {
		t.Errorf("crane ls %s = %v, want exactly [1.4 latest]", repo, got)
	}

	// A metadata file of `docker buildx build --metadata-file` for one
	// platform works beside mab's for the other.
	amd64 := digestOf["linux/amd64"]
	desc, err := remote.Head(mustRef(t, repo+"@"+amd64))
	if err != nil {
		t.Fatal(err)
	}
	bxMeta, err := json.Marshal(map[string]any{
		"containerimage.digest":     amd64,
		"containerimage.descriptor": map[string]any{"mediaType": desc.MediaType, "digest": amd64, "size": desc.Size},
		"image.name":                repo,
	})
	if err != nil {
		t.Fatal(err)
	}
	bxFile := filepath.Join(dir, "buildx-amd64.json")
	if err := os.WriteFile(bxFile, bxMeta, 0o644); err != nil {
		t.Fatal(err)
	}
	r = e.Run(t, matrixMergeArgs([]string{repo + ":from-buildx"}, []string{bxFile, jobs[1].Metadata})...)
	if r.ExitCode != 0 {
		t.Fatalf("merge of a buildx metadata file exited %d:\n%s", r.ExitCode, r.Stderr)
	}
	assertMatrixIndex(t, "index from a buildx metadata file", remoteIndexManifest(t, repo+":from-buildx"), digestOf)
}

// assertMatrixIndex checks that m lists exactly the images of want
// (platform → digest), attestations aside.
func assertMatrixIndex(t *testing.T, reader string, m v1.IndexManifest, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, d := range m.Manifests {
		if d.Platform == nil || d.Platform.OS == "unknown" || d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		got[strings.TrimSuffix(d.Platform.OS+"/"+d.Platform.Architecture+"/"+d.Platform.Variant, "/")] = d.Digest.String()
	}
	if len(got) != len(want) {
		t.Errorf("%s: the index lists %v, want %v", reader, got, want)
		return
	}
	for p, d := range want {
		if got[p] != d {
			t.Errorf("%s: the index lists %s as %q, want %s (the digest its metadata file named)", reader, p, got[p], d)
		}
	}
}

func remoteIndexManifest(t *testing.T, ref string) v1.IndexManifest {
	t.Helper()
	idx, err := remote.Index(mustRef(t, ref))
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	return *m
}

func parseIndex(t *testing.T, raw string) v1.IndexManifest {
	t.Helper()
	var m v1.IndexManifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("not an index: %v\n%s", err, raw)
	}
	return m
}

// runTool runs a registry client and returns its stdout.
func runTool(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, exitStderr(err))
	}
	return string(out)
}

func craneLs(t *testing.T, repo string) []string {
	t.Helper()
	out, err := exec.Command(testenv.Crane(t), "ls", repo).Output()
	if err != nil {
		// The distribution registry answers NAME_UNKNOWN for a repository
		// without a tag: no tags.
		if strings.Contains(exitStderr(err), "NAME_UNKNOWN") {
			return nil
		}
		t.Fatalf("crane ls %s: %v\n%s", repo, err, exitStderr(err))
	}
	tags := strings.Fields(string(out))
	slices.Sort(tags)
	return tags
}

// regctl runs regclient's CLI with a config of the test's own that lets it
// speak plain HTTP to the environment's registry.
func regctl(t *testing.T, e testenv.Env, args ...string) string {
	t.Helper()
	bin := testenv.Regctl(t)
	cfg := filepath.Join(t.TempDir(), "regctl.json")
	run := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "REGCTL_CONFIG="+cfg)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("regctl %s: %v\n%s", strings.Join(args, " "), err, exitStderr(err))
		}
		return string(out)
	}
	run("registry", "set", e.Registry, "--tls", "disabled")
	return run(args...)
}
