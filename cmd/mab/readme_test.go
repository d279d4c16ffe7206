package main

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// README commands and the scripts that run them.
//
// TestREADMECommandsRunByScripts takes every `mab …` command of README.md's
// fenced blocks (`\` continuation lines joined) and looks for it among the
// commands of testdata/script/*.txtar (`exec mab …`, `! exec mab …`, with
// or without a [condition]). Both sides are normalised first, and this is
// the whole mapping:
//
//	README                                      script
//	registry.example.com, reg/ (a registry)     $REG
//	other.example.com, mirror.example.com,      $REG2
//	staging.example.com
//	@sha256:4f1c…  (any digest)                 @$NAME (any variable, e.g. set by setvar)
//	sudo mab …, NAME=VALUE mab …                mab …  (the script runs as it is, sets env with `env`)
//	mab … < FILE                                mab …  (the script says `stdin FILE` before it)
//	mab … > FILE, mab … | CMD                   mab …  (the script checks stdout, or `cp stdout FILE`)
//	mab build …   (ends with …)                 any command that starts so
//
// Spaces are collapsed. Synopses (a line with [optional] parts, `...`
// repetitions or a|b choices in brackets) are not examples and are not
// looked for.
var (
	readmeRegistry  = regexp.MustCompile(`registry\.example\.com|(^|[\s=])reg/`)
	readmeRegistry2 = regexp.MustCompile(`(other|mirror|staging)\.example\.com`)
	anyDigest       = regexp.MustCompile(`@(sha256:[0-9a-f…]+|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)`)
	envAssignment   = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*=('[^']*'|"[^"]*"|\S*)\s+)+`)
	scriptVar       = regexp.MustCompile(`\$\{(REG2?)\}`)
	stdinFile       = regexp.MustCompile(`\s<\s*\S+$`)
	stdoutTo        = regexp.MustCompile(`\s(>|\|)\s.*$`)
	spaces          = regexp.MustCompile(`\s+`)
)

// normalise is a README or script command in the form both are compared.
func normalise(cmd string) string {
	cmd = strings.TrimSpace(cmd)
	cmd = strings.TrimPrefix(cmd, "sudo ")
	cmd = envAssignment.ReplaceAllString(cmd, "")
	cmd = stdinFile.ReplaceAllString(cmd, "")
	cmd = stdoutTo.ReplaceAllString(cmd, "")
	cmd = readmeRegistry.ReplaceAllStringFunc(cmd, func(m string) string {
		if strings.HasSuffix(m, "reg/") {
			return strings.TrimSuffix(m, "reg/") + "$REG/"
		}
		return "$REG"
	})
	cmd = readmeRegistry2.ReplaceAllString(cmd, "$$REG2")
	cmd = scriptVar.ReplaceAllString(cmd, "$$$1")
	cmd = anyDigest.ReplaceAllString(cmd, "@$$DIGEST")
	return spaces.ReplaceAllString(cmd, " ")
}

// readmeCommands are the `mab` commands of README.md's fenced blocks,
// continuation lines joined and trailing comments dropped, synopses left
// out.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fenced := false
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		cmd := cur + line
		cur = ""
		if i := strings.Index(cmd, "  #"); i >= 0 {
			cmd = cmd[:i]
		}
		cmd = strings.TrimSpace(cmd)
		first := envAssignment.ReplaceAllString(strings.TrimPrefix(cmd, "sudo "), "")
		if !strings.HasPrefix(first, "mab ") || synopsis(cmd) {
			continue
		}
		out = append(out, cmd)
	}
	return out
}

// synopsis reports whether a README line is a command's synopsis rather
// than an example: it has [optional] parts or `...` repetitions.
func synopsis(cmd string) bool {
	return strings.Contains(cmd, "...") || regexp.MustCompile(`\[--?[a-z]|\[[A-Z]`).MatchString(cmd)
}

// scriptCommands are the mab commands of every script, by script name.
func scriptCommands(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob("testdata/script/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	prefix := regexp.MustCompile(`^(\[[^\]]*\]\s*)*(!\s*|\?\s*)?exec\s+`)
	out := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "-- ") {
				break // the archive's files start here
			}
			rest := prefix.ReplaceAllString(strings.TrimSpace(line), "")
			if rest != strings.TrimSpace(line) && strings.HasPrefix(rest, "mab ") {
				out[filepath.Base(f)] = append(out[filepath.Base(f)], rest)
			}
		}
	}
	return out
}

func TestREADMECommandsRunByScripts(t *testing.T) {
	run := map[string]bool{}
	var runList []string
	for _, cmds := range scriptCommands(t) {
		for _, c := range cmds {
			run[normalise(c)] = true
			runList = append(runList, normalise(c))
		}
	}
	cmds := readmeCommands(t)
	if len(cmds) < 10 {
		t.Fatalf("README.md has %d mab commands in fenced blocks: the extraction is broken", len(cmds))
	}
	for _, c := range cmds {
		n := normalise(c)
		if before, ok := strings.CutSuffix(n, "…"); ok {
			if slices.ContainsFunc(runList, func(s string) bool { return strings.HasPrefix(s, before) }) {
				continue
			}
		} else if run[n] {
			continue
		}
		t.Errorf("README.md runs %q, and no script in cmd/mab/testdata/script does: add to the script of its README section the line\n\texec mab %s\nand check its stdout, stderr and exit code (README's registry.example.com is $REG there, other.example.com, mirror.example.com and staging.example.com $REG2, a digest @$VARIABLE; see readme_test.go)",
			c, strings.TrimPrefix(n, "mab "))
	}
}

// TestNormaliseMapsREADMEToScripts pins the mapping above.
func TestNormaliseMapsREADMEToScripts(t *testing.T) {
	for readme, script := range map[string]string{
		"mab merge -t registry.example.com/app:1.4 registry.example.com/app:1.4-amd64":                        "mab merge -t $REG/app:1.4 $REG/app:1.4-amd64",
		"mab merge --dry-run -t registry.example.com/app:1.4 other.example.com/app@sha256:4f1c…=linux/arm/v7": "mab merge --dry-run -t $REG/app:1.4 $REG2/app@$D=linux/arm/v7",
		"mab build -t reg/app:1 .": "mab build -t ${REG}/app:1 .",
		"mab copy --referrers staging.example.com/app:1.4 registry.example.com/app:1.4": "mab copy --referrers $REG2/app:1.4 $REG/app:1.4",
		"mab login registry.example.com -u ci-bot --password-stdin < password.txt":      "mab login $REG -u ci-bot --password-stdin",
		"mab completion bash | sudo tee /etc/bash_completion.d/mab > /dev/null":         "mab completion bash",
		"mab completion fish > ~/.config/fish/completions/mab.fish":                     "mab completion fish",
		"sudo mab emulation install arm64":                                              "mab emulation install arm64",
		"MAB_NODES='a=b;c=d' mab build --platform x  .":                                 "mab build --platform x .",
	} {
		if a, b := normalise(readme), normalise(script); a != b {
			t.Errorf("normalise(%q) = %q, normalise(%q) = %q; want them equal", readme, a, script, b)
		}
	}
}

// TestLayoutListsWhatIsTracked compares README.md's "## Layout" table with
// what git tracks: every folder of the first column must exist, every
// tracked top-level folder must hold a row, and every folder holding Go
// files (a package, or tests) must be a row or lie under one.
func TestLayoutListsWhatIsTracked(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(b), "\n## Layout\n")
	if !ok {
		t.Fatal(`README.md has no "## Layout" section`)
	}
	if i := strings.Index(layout, "\n#"); i >= 0 {
		layout = layout[:i]
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	var rows []string
	for _, m := range row.FindAllStringSubmatch(layout, -1) {
		rows = append(rows, strings.TrimSuffix(m[1], "/"))
	}
	if len(rows) < 5 {
		t.Fatalf("the Layout table has %d rows: the parsing is broken", len(rows))
	}
	out, err := exec.Command("git", "-C", "../..", "ls-files").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v (the check needs the git checkout)", err)
	}
	need := map[string]bool{} // Go folders: a row of their own or above
	tops := map[string]bool{} // top-level folders: a row at or under them
	tracked := map[string]bool{}
	for _, f := range strings.Fields(string(out)) {
		dir := path.Dir(f)
		for d := dir; d != "."; d = path.Dir(d) {
			tracked[d] = true
		}
		if top, _, ok := strings.Cut(f, "/"); ok {
			tops[top] = true
		}
		if strings.HasSuffix(f, ".go") && !strings.Contains(f, "/testdata/") {
			need[dir] = true
		}
	}
	for _, r := range rows {
		if !tracked[r] {
			t.Errorf("README.md's Layout table lists `%s`, which git does not track: remove its row", r)
		}
	}
	for d := range tops {
		if !slices.ContainsFunc(rows, func(r string) bool { return d == r || strings.HasPrefix(r, d+"/") }) {
			t.Errorf("git tracks the folder %s, and README.md's Layout table has no row in it: add a row \"| `%s` | what it holds |\"", d, d)
		}
	}
	for d := range need {
		covered := slices.ContainsFunc(rows, func(r string) bool { return d == r || strings.HasPrefix(d, r+"/") })
		if !covered {
			t.Errorf("git tracks %s, and README.md's Layout table has no row for it or a folder above it: add a row \"| `%s` | what it owns |\"", d, d)
		}
	}
}

// TestREADMESynopsesNameRealFlags: the synopses that the coverage check
// leaves out (`mab merge -t REPO:TAG [--amend] …`) and the rows of the
// `mab build` flag table name only flags the command has.
func TestREADMESynopsesNameRealFlags(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	flagRe := regexp.MustCompile("(?:^|[\\s\\[(|,/`])(--[a-z][a-z-]*)")
	check := func(where string, words []string, text string) {
		t.Helper()
		cmd, _, err := NewRootCmd().Find(words)
		if err != nil || cmd.Name() != words[len(words)-1] {
			t.Errorf("%s: no command mab %s", where, strings.Join(words, " "))
			return
		}
		for _, m := range flagRe.FindAllStringSubmatch(text, -1) {
			if name := strings.TrimPrefix(m[1], "--"); cmd.Flags().Lookup(name) == nil && name != "help" {
				t.Errorf("%s names %s, which mab %s does not have", where, m[1], strings.Join(words, " "))
			}
		}
	}
	var synopses int
	var syn []string
	fenced, inSyn, cur := false, false, ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			fenced, inSyn = !fenced, false
			continue
		}
		if !fenced {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		joined := cur != ""
		cmd := strings.TrimPrefix(strings.TrimSpace(cur+line), "sudo ")
		cur = ""
		switch {
		case strings.HasPrefix(cmd, "mab ") && synopsis(cmd):
			syn = append(syn, cmd)
			inSyn = true
		case inSyn && !joined && strings.HasPrefix(line, " "):
			syn[len(syn)-1] += " " + strings.TrimSpace(line) // the synopsis goes on
		default:
			inSyn = false
		}
	}
	for _, cmd := range syn {
		synopses++
		words := []string{}
		for _, w := range strings.Fields(cmd)[1:] {
			if !regexp.MustCompile(`^[a-z]+$`).MatchString(w) {
				break
			}
			words = append(words, w)
		}
		check(fmt.Sprintf("README synopsis %q", cmd), words, cmd)
	}
	if synopses < 3 {
		t.Fatalf("found %d synopses in README.md: the extraction is broken", synopses)
	}
	_, build, _ := strings.Cut(string(b), "### `mab build`")
	build, _, _ = strings.Cut(build, "\n1. **Plan**")
	rows := 0
	for _, line := range strings.Split(build, "\n") {
		if strings.HasPrefix(line, "| `-") {
			rows++
			first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
			check(fmt.Sprintf("README's mab build flag %s", first), []string{"build"}, first)
		}
	}
	if rows < 20 {
		t.Fatalf("found %d rows in the mab build flag table: the extraction is broken", rows)
	}
}
