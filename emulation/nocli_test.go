package emulation

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

// TestNoCommandLineAdviceInStrings keeps the package a library: no string
// of its code names a flag, a mab command or a make target. Errors are
// typed (errors.go) and the command line adds its own advice. The only
// flags allowed are those of the installer image that the Docker installer
// passes to it.
func TestNoCommandLineAdviceInStrings(t *testing.T) {
	flag := regexp.MustCompile(`--[a-z][a-z-]*`)
	advice := regexp.MustCompile(`\b(mab|make) [a-z-]+`)
	allowed := map[string]bool{"--install": true, "--uninstall": true}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
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
				if !allowed[m] {
					t.Errorf("%s: string %q names the flag %s", fset.Position(lit.Pos()), s, m)
				}
			}
			if m := advice.FindString(s); m != "" {
				t.Errorf("%s: string %q gives command-line advice (%q)", fset.Position(lit.Pos()), s, m)
			}
			return true
		})
	}
}
