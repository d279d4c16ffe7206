package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/mab-build/mab/internal/testenv"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// The install paths of README's "Install" section and of action.yml and
// ci/gitlab/mab.yml, run for real against a release folder served over
// HTTP the way the release page serves it: VERSION's files under
// /download/VERSION/, the latest's under /latest/download/.

const releasesURL = "https://github.com/mab-build/mab/releases"

// releaseServer serves dist as the releases of version and as the latest
// release, and records the paths asked for.
type releaseServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func serveRelease(t *testing.T, dist, version string) *releaseServer {
	t.Helper()
	s := &releaseServer{}
	files := http.FileServer(http.Dir(dist))
	mux := http.NewServeMux()
	mux.Handle("/download/"+version+"/", http.StripPrefix("/download/"+version, files))
	mux.Handle("/latest/download/", http.StripPrefix("/latest/download", files))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *releaseServer) asked() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.paths, " ")
}

// installSection is the fenced blocks of README's "## Install".
func installSection(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "\n## Install\n")
	if start < 0 || start > strings.Index(s, "\n## Quick start") {
		t.Fatal(`README has no "## Install" before "## Quick start"`)
	}
	end := strings.Index(s[start+1:], "\n## ")
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)\n```\n(.*?)```\n").FindAllStringSubmatch(s[start:start+1+end], -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// readmeBlock is the one block of the Install section that contains
// marker, with each of the replacements (old, new pairs) made; a missing
// old string fails the test, so the README and the test cannot drift.
func readmeBlock(t *testing.T, blocks []string, marker string, replace ...string) string {
	t.Helper()
	var found []string
	for _, b := range blocks {
		if strings.Contains(b, marker) {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("README's Install section has %d blocks with %q, want 1", len(found), marker)
	}
	b := found[0]
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(b, replace[i]) {
			t.Fatalf("README's block no longer has %q:\n%s", replace[i], b)
		}
		b = strings.ReplaceAll(b, replace[i], replace[i+1])
	}
	return b
}

func runBash(t *testing.T, dir string, env []string, script string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mabVersion runs bin version --format json.
func mabVersion(t *testing.T, bin string) map[string]string {
	t.Helper()
	out, err := exec.Command(bin, "version", "--format", "json").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	var v map[string]string
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s version --format json: %v\n%s", bin, err, out)
	}
	return v
}

// testReadmeInstall runs README's release-archive commands against dist
// (served as the latest release; install into a folder of the test's,
// not /usr/local/bin), then its completion commands with that mab.
func testReadmeInstall(t *testing.T, e testenv.Env, dist, version string) {
	srv := serveRelease(t, dist, version)
	blocks := installSection(t, e.Root)
	bin, work, comp := t.TempDir(), t.TempDir(), t.TempDir()

	script := readmeBlock(t, blocks, "sha256sum", releasesURL, srv.URL, "sudo install", "install", "/usr/local/bin/mab", bin+"/mab")
	if out, err := runBash(t, work, nil, script); err != nil {
		t.Fatalf("README's install commands: %v\n%s", err, out)
	}
	if v := mabVersion(t, filepath.Join(bin, "mab")); v["version"] != version || v["platform"] != "linux/amd64" {
		t.Errorf("installed mab: %v, want version %s for linux/amd64", v, version)
	}
	if !strings.Contains(srv.asked(), "/latest/download/checksums.txt") {
		t.Errorf("README's commands asked for %s, not the latest release's checksums.txt", srv.asked())
	}

	// The checksum is checked: a changed archive stops the commands.
	bad := t.TempDir()
	copyDir(t, dist, bad)
	if err := os.WriteFile(filepath.Join(bad, "mab-linux-amd64.tar.gz"), []byte("not the release"), 0o644); err != nil {
		t.Fatal(err)
	}
	badSrv := serveRelease(t, bad, version)
	badScript := readmeBlock(t, blocks, "sha256sum", releasesURL, badSrv.URL, "sudo install", "install", "/usr/local/bin/mab", t.TempDir()+"/mab")
	if out, err := runBash(t, t.TempDir(), nil, badScript); err == nil || !strings.Contains(out, "mab-linux-amd64.tar.gz: FAILED") {
		t.Errorf("README's commands went on with a changed archive (%v):\n%s", err, out)
	}

	script = readmeBlock(t, blocks, "mab completion",
		"sudo tee /etc/bash_completion.d/mab", "tee "+comp+"/mab.bash",
		`"${fpath[1]}/_mab"`, comp+"/_mab",
		"~/.config/fish/completions/mab.fish", comp+"/mab.fish")
	if out, err := runBash(t, work, []string{"PATH=" + bin + ":" + os.Getenv("PATH")}, script); err != nil {
		t.Fatalf("README's completion commands: %v\n%s", err, out)
	}
	out, err := runBash(t, work, []string{"PATH=" + bin + ":" + os.Getenv("PATH")}, "source "+comp+"/mab.bash && complete -p mab")
	if err != nil || !strings.Contains(out, "complete -o default -F __start_mab mab") {
		t.Errorf("bash completion: %v\n%s", err, out)
	}
	for file, want := range map[string]string{"_mab": "#compdef mab", "mab.fish": "complete -c mab "} {
		b, err := os.ReadFile(filepath.Join(comp, file))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s: %v, want it to hold %q", file, err, want)
		}
	}
	for shell, file := range map[string]string{"zsh": "_mab", "fish": "mab.fish"} {
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("%s is not installed: its completion file was checked by content only", shell)
			continue
		}
		if out, err := exec.Command(shell, "-n", filepath.Join(comp, file)).CombinedOutput(); err != nil {
			t.Errorf("%s -n %s: %v\n%s", shell, file, err, out)
		}
	}
}

// testGoInstall runs README's `go install …@latest` against a module
// proxy of the test's (a file:// GOPROXY holding this commit as v0.0.1,
// in front of the usual one for the dependencies): the version comes
// from the build info then.
func testGoInstall(t *testing.T, e testenv.Env) {
	const modVersion = "v0.0.1"
	proxy := t.TempDir()
	dir := filepath.Join(proxy, "github.com", "mab-build", "mab", "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// HEAD's files, as git archive gives them (x/mod's CreateFromVCS does
	// not know a git worktree), zipped as the module.
	src := t.TempDir()
	if out, err := runBash(t, e.Root, nil, "git archive --format=tar HEAD | tar -x -C "+src); err != nil {
		t.Fatalf("git archive HEAD: %v\n%s", err, out)
	}
	var zb bytes.Buffer
	if err := modzip.CreateFromDir(&zb, module.Version{Path: "github.com/mab-build/mab", Version: modVersion}, src); err != nil {
		t.Fatalf("zipping HEAD as a module: %v", err)
	}
	gomod, err := os.ReadFile(filepath.Join(e.Root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"list": []byte(modVersion + "\n"), modVersion + ".info": []byte(`{"Version":"` + modVersion + `"}`),
		modVersion + ".mod": gomod, modVersion + ".zip": zb.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	goproxy := "file://" + proxy + "," + strings.TrimSpace(goEnv(t, "GOPROXY"))
	bin := t.TempDir()
	script := readmeBlock(t, installSection(t, e.Root), "go install")
	out, err := runBash(t, t.TempDir(), []string{"GOPROXY=" + goproxy, "GOBIN=" + bin, "GONOSUMDB=github.com/mab-build/mab", "GOFLAGS=", "GOWORK=off"}, script)
	if err != nil {
		t.Fatalf("README's go install: %v\n%s", err, out)
	}
	if v := mabVersion(t, filepath.Join(bin, "mab")); v["version"] != modVersion || !strings.HasPrefix(v["buildkit"], "v0.") {
		t.Errorf("mab from go install: %v, want version %s from the build info", v, modVersion)
	}
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// actionStep is one step of action.yml's composite run.
type actionStep struct {
	ID, Shell, Run string
	Env            map[string]string
}

// readAction is action.yml: its inputs' defaults and its steps by id.
func readAction(t *testing.T) (defaults map[string]string, steps map[string]actionStep) {
	t.Helper()
	var a struct {
		Inputs map[string]struct {
			Default string `yaml:"default"`
		} `yaml:"inputs"`
		Runs struct {
			Using string       `yaml:"using"`
			Steps []actionStep `yaml:"steps"`
		} `yaml:"runs"`
	}
	if err := yaml.Unmarshal(readCIFile(t, "action.yml"), &a); err != nil {
		t.Fatal(err)
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("action.yml runs using %q, want composite", a.Runs.Using)
	}
	defaults, steps = map[string]string{}, map[string]actionStep{}
	for k, v := range a.Inputs {
		defaults[k] = v.Default
	}
	for _, s := range a.Runs.Steps {
		if s.Shell != "bash" {
			t.Errorf("step %s: shell %q, want bash (it exists on every runner)", s.ID, s.Shell)
		}
		steps[s.ID] = s
	}
	if steps["install"].Run == "" || steps["mab"].Run == "" {
		t.Fatalf("action.yml has no install and mab steps: %v", steps)
	}
	return defaults, steps
}

// actionScripts are the run: scripts of action.yml's steps, by id.
func actionScripts(t *testing.T) map[string]string {
	t.Helper()
	_, steps := readAction(t)
	out := map[string]string{}
	for id, s := range steps {
		out[id] = s.Run
	}
	return out
}

// actionEnv is the script of step id of action.yml and the environment a
// runner gives it: every env entry that is ${{ inputs.X }} is set, to
// inputs[X] or X's default (empty or not, as a runner sets it); every
// other entry (${{ runner.os }}, another step's output) must be in set.
func actionEnv(t *testing.T, id string, inputs, set map[string]string) (script string, env []string) {
	t.Helper()
	defaults, steps := readAction(t)
	step := steps[id]
	for k := range inputs {
		if _, ok := defaults[k]; !ok {
			t.Fatalf("action.yml has no input %q", k)
		}
	}
	for k, v := range step.Env {
		if value, ok := set[k]; ok {
			env = append(env, k+"="+value)
			continue
		}
		input, ok := strings.CutPrefix(v, "${{ inputs.")
		input, ok2 := strings.CutSuffix(input, " }}")
		if !ok || !ok2 {
			t.Fatalf("action.yml's %s step: env %s is %s, which the test does not set", id, k, v)
		}
		value, given := inputs[input]
		if !given {
			value = defaults[input]
		}
		env = append(env, k+"="+value)
	}
	return step.Run, env
}

// githubFiles are GITHUB_OUTPUT, GITHUB_PATH and RUNNER_TEMP for one step.
type githubFiles struct{ output, path, temp string }

func newGitHubFiles(t *testing.T) githubFiles {
	d := t.TempDir()
	return githubFiles{filepath.Join(d, "output"), filepath.Join(d, "path"), t.TempDir()}
}

func (g githubFiles) env() []string {
	return []string{"GITHUB_OUTPUT=" + g.output, "GITHUB_PATH=" + g.path, "RUNNER_TEMP=" + g.temp, "GITHUB_JOB=build"}
}

// outputs reads GITHUB_OUTPUT: name=value lines and name<<EOF blocks.
func (g githubFiles) outputs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(g.output)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if name, delim, ok := strings.Cut(lines[i], "<<"); ok {
			var v []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				v = append(v, lines[i])
			}
			out[name] = strings.Join(v, "\n")
		} else if name, v, ok := strings.Cut(lines[i], "="); ok {
			out[name] = v
		}
	}
	return out
}

// testActionInstall runs action.yml's install step as a runner would,
// against dist: the runner's OS and arch pick the archive (arm64 and arm/v7
// run under QEMU), the checksum is checked, and mab lands on GITHUB_PATH.
// It returns the linux/amd64 mab it installed, copied into keep.
func testActionInstall(t *testing.T, dist, version, keep string) string {
	srv := serveRelease(t, dist, version)
	install := func(g githubFiles, version, url, ref, os, arch string) (string, error) {
		script, env := actionEnv(t, "install", map[string]string{"version": version, "download-url": url},
			map[string]string{"MAB_ACTION_REF": ref, "MAB_RUNNER_OS": os, "MAB_RUNNER_ARCH": arch})
		return runBash(t, t.TempDir(), append(g.env(), env...), script)
	}
	var installed string
	for _, c := range []struct{ arch, ref, version, platform, asked string }{
		{"X64", "", version, "linux/amd64", "/download/" + version + "/mab-linux-amd64.tar.gz"},
		{"ARM64", "main", "", "linux/arm64", "/latest/download/mab-linux-arm64.tar.gz"},
		{"ARM", version, "", "linux/arm/v7", "/latest/download/mab-linux-armv7.tar.gz"},
	} {
		g := newGitHubFiles(t)
		out, err := install(g, c.version, srv.URL, c.ref, "Linux", c.arch)
		if err != nil {
			t.Fatalf("install on %s: %v\n%s", c.arch, err, out)
		}
		path := g.outputs(t)["path"]
		if p, _ := os.ReadFile(g.path); strings.TrimSpace(string(p)) != filepath.Dir(path) || path == "" {
			t.Errorf("%s: GITHUB_PATH %q, output path %q", c.arch, p, path)
		}
		if v := mabVersion(t, path); v["platform"] != c.platform || v["version"] != version {
			t.Errorf("%s: installed %v, want %s at %s", c.arch, v, c.platform, version)
		}
		if !strings.Contains(srv.asked(), c.asked) {
			t.Errorf("%s (version %q, ref %q): asked for %s, want %s", c.arch, c.version, c.ref, srv.asked(), c.asked)
		}
		if c.arch == "X64" {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			installed = filepath.Join(keep, "mab")
			if err := os.WriteFile(installed, b, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Refusals: a changed archive, a runner without a release.
	bad := t.TempDir()
	copyDir(t, dist, bad)
	sums, _ := os.ReadFile(filepath.Join(dist, "checksums.txt"))
	if err := os.WriteFile(filepath.Join(bad, "checksums.txt"), bytes.Replace(sums, []byte("  mab-linux-amd64.tar.gz"), []byte("  mab-linux-amd64.tar.gz.old"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	badSrv := serveRelease(t, bad, version)
	wrong := t.TempDir()
	copyDir(t, dist, wrong)
	if err := os.WriteFile(filepath.Join(wrong, "mab-linux-amd64.tar.gz"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrongSrv := serveRelease(t, wrong, version)
	for _, c := range []struct{ os, arch, url, want string }{
		{"Linux", "X64", badSrv.URL, "checksums.txt of " + version + " has no line for mab-linux-amd64.tar.gz"},
		{"Linux", "X64", wrongSrv.URL, "mab-linux-amd64.tar.gz has sha256 "},
		{"FreeBSD", "X64", srv.URL, "no mab release for runner.os FreeBSD"},
		{"Windows", "ARM64", srv.URL, "no mab release for windows/arm64"},
	} {
		g := newGitHubFiles(t)
		out, err := install(g, version, c.url, "", c.os, c.arch)
		if err == nil || !strings.Contains(out, "::error title=mab::"+c.want) {
			t.Errorf("%s %s: %v\n%s\nwant the error %q", c.os, c.arch, err, out, c.want)
		}
		if p, _ := os.ReadFile(g.path); len(p) > 0 {
			t.Errorf("%s %s: GITHUB_PATH written after a failure: %s", c.os, c.arch, p)
		}
	}
	return installed
}

// testActionRun runs action.yml's mab step with the installed mab against
// the environment: a two-platform build pushed by digest, then a merge of
// its metadata file under two more tags; the digest and metadata outputs
// are what the registry holds.
func testActionRun(t *testing.T, e testenv.Env, mab string) {
	repo := e.Registry + "/release-action"
	run := func(g githubFiles, inputs map[string]string, extra ...string) (string, error) {
		script, env := actionEnv(t, "mab", inputs, map[string]string{"MAB": mab})
		return runBash(t, t.TempDir(), append(append(append(g.env(), env...), "BUILDKIT_HOST="+e.BuildkitHost), extra...), script)
	}
	g := newGitHubFiles(t)
	out, err := run(g, map[string]string{"platforms": "linux/amd64,linux/arm64", "tags": repo + ":1", "context": filepath.Join(e.Root, "examples", "hello"),
		"push-by-digest": "true", "args": "--insecure\n--progress=plain\n--build-arg=BASE=" + e.Base()})
	if err != nil {
		t.Fatalf("the action's build: %v\n%s", err, out)
	}
	outs := g.outputs(t)
	if d := headDigest(t, repo+":1"); outs["digest"] != d {
		t.Errorf("digest output %q, the tag holds %s", outs["digest"], d)
	}
	var md matrixMetadata
	if err := json.Unmarshal([]byte(outs["metadata"]), &md); err != nil || len(md.Platforms) != 2 {
		t.Fatalf("metadata output: %v, %d platforms:\n%s", err, len(md.Platforms), outs["metadata"])
	}

	g2 := newGitHubFiles(t)
	if out, err := run(g2, map[string]string{"command": "merge", "tags": repo + ":merged, " + repo + ":merged-too",
		"from-metadata": g.temp + "/mab-metadata-*.json", "args": "--insecure"}); err != nil {
		t.Fatalf("the action's merge: %v\n%s", err, out)
	}
	outs = g2.outputs(t)
	if d := headDigest(t, repo+":merged"); outs["digest"] != d || headDigest(t, repo+":merged-too") != d || outs["metadata"] != "" {
		t.Errorf("merge: digest output %q, metadata %q; the tags hold %s and %s", outs["digest"], outs["metadata"], d, headDigest(t, repo+":merged-too"))
	}

	for _, c := range []struct {
		inputs map[string]string
		want   string
	}{
		{map[string]string{"command": "deploy", "tags": repo + ":x"}, "command: want build, merge or install, not deploy"},
		{map[string]string{"tags": repo + ":x"}, "platforms: name at least one for build"},
		{map[string]string{"tags": repo + ":x", "platforms": "linux/amd64", "push-by-digest": "yes"}, "push-by-digest: want true or false, not yes"},
		{map[string]string{"command": "merge", "tags": " , "}, "tags: name at least one"},
		{map[string]string{"command": "merge", "tags": repo + ":x", "from-metadata": "/nonexistent/*.json"}, "from-metadata: no file matches /nonexistent/*.json"},
	} {
		out, err := run(newGitHubFiles(t), c.inputs)
		if err == nil || !strings.Contains(out, "::error title=mab::"+c.want) {
			t.Errorf("%v: %v\n%s\nwant the error %q", c.inputs, err, out, c.want)
		}
	}
	assertTagMissing(t, repo+":x")
}

// testGitLabInstall runs the before_script of ci/gitlab/mab.yml's .mab
// job in one shell, as a GitLab runner does, against dist: mab is on PATH
// afterwards and the Docker config holds the job's registry login.
func testGitLabInstall(t *testing.T, e testenv.Env, dist, version string) {
	var tpl map[string]struct {
		BeforeScript []string `yaml:"before_script"`
	}
	if err := yaml.Unmarshal(readCIFile(t, "ci/gitlab/mab.yml"), &tpl); err != nil {
		t.Fatal(err)
	}
	lines := tpl[".mab"].BeforeScript
	if len(lines) == 0 {
		t.Fatal("ci/gitlab/mab.yml has no .mab job with a before_script")
	}
	srv := serveRelease(t, dist, version)
	home, builds := t.TempDir(), t.TempDir()
	script := strings.Join(lines, "\n") + "\ncommand -v mab\n"
	for _, v := range []string{"latest", version} {
		env := []string{"MAB_VERSION=" + v, "MAB_DOWNLOAD_URL=" + srv.URL, "CI_BUILDS_DIR=" + builds, "HOME=" + home, "DOCKER_CONFIG=",
			"CI_REGISTRY=registry.example.com", "CI_REGISTRY_USER=gitlab-ci-token", "CI_REGISTRY_PASSWORD=s3cret"}
		out, err := runBash(t, t.TempDir(), env, script)
		if err != nil {
			t.Fatalf("the template's before_script (MAB_VERSION=%s): %v\n%s", v, err, out)
		}
		if want := filepath.Join(builds, ".mab-"+v, "mab-linux-amd64", "mab"); !strings.HasSuffix(strings.TrimSpace(out), want) || !strings.Contains(out, "platform:  linux/amd64") {
			t.Errorf("MAB_VERSION=%s: mab is not %s on PATH:\n%s", v, want, out)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(home, ".docker", "config.json"))
	if err != nil || !strings.Contains(string(cfg), `"registry.example.com":{"auth":"Z2l0bGFiLWNpLXRva2VuOnMzY3JldA=="}`) {
		t.Errorf("Docker config: %v\n%s", err, cfg)
	}
	if !strings.Contains(srv.asked(), "/latest/download/checksums.txt") || !strings.Contains(srv.asked(), "/download/"+version+"/mab-linux-amd64.tar.gz") {
		t.Errorf("asked for %s", srv.asked())
	}
}

// headDigest is the digest ref holds now.
func headDigest(t *testing.T, ref string) string {
	t.Helper()
	d, err := remote.Head(mustRef(t, ref))
	if err != nil {
		t.Fatalf("reading %s: %v", ref, err)
	}
	return d.Digest.String()
}
