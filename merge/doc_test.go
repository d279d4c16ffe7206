package merge

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestNoStringNamesTheCommandLine keeps package merge a library: no string
// in its code names a command-line flag (--force), a make target or a
// login command. Advice of that kind belongs to the program that imports
// merge (cmd/mab adds it with errors.Is and errors.As).
func TestNoStringNamesTheCommandLine(t *testing.T) {
	cli := regexp.MustCompile(`--[a-z]|make |docker login`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	scanned := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, path, src, 0)
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
				t.Errorf("%s: %v", fset.Position(lit.Pos()), err)
				return true
			}
			if m := cli.FindString(s); m != "" {
				t.Errorf("%s: string %s names the command line (%q)", fset.Position(lit.Pos()), lit.Value, m)
			}
			return true
		})
	}
	if scanned == 0 {
		t.Fatal("no source file scanned")
	}
}
