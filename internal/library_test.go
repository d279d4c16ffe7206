package internal_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestLibrariesGiveNoCommandLineAdvice keeps builder, emulation and merge
// libraries that another Go program can import: no string of their code
// names a flag, a mab command, a make target or `docker login`. They
// return typed errors; cmd/mab/advice.go adds what to type.
func TestLibrariesGiveNoCommandLineAdvice(t *testing.T) {
	flag := regexp.MustCompile(`--[a-z][a-z-]*`)
	advice := regexp.MustCompile(`\bmab (build|merge|inspect|emulation|builder|version)\b|\bmake (e2e-up|e2e-down|test|unit|lint|build|bench|demo)\b|docker login`)
	// Flags that mab passes to other programs, not flags of mab.
	allowed := map[string]map[string]bool{
		"emulation": {"--install": true, "--uninstall": true}, // the installer image's
		"builder":   {"--root": true, "--addr": true},         // buildkitd's, for mab's own
	}
	for _, pkg := range []string{"builder", "emulation", "merge"} {
		files, err := filepath.Glob(filepath.Join("..", pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		scanned := 0
		fset := token.NewFileSet()
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			scanned++
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: %v", fset.Position(lit.Pos()), err)
				}
				for _, m := range flag.FindAllString(s, -1) {
					if !allowed[pkg][m] {
						t.Errorf("%s: string %q names the flag %s", fset.Position(lit.Pos()), s, m)
					}
				}
				if m := advice.FindString(s); m != "" {
					t.Errorf("%s: string %q gives command-line advice (%q)", fset.Position(lit.Pos()), s, m)
				}
				return true
			})
		}
		if scanned < 3 {
			t.Fatalf("%s: scanned %d files", pkg, scanned)
		}
	}
}
