package internal_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackagesStayIndependent keeps the data flowing one way: cmd →
// pipeline → (emulation, builder, merge), and none of those three imports
// another, nor BuildKit and go-containerregistry meet in one of them.
func TestPackagesStayIndependent(t *testing.T) {
	const mod = "github.com/mab-build/mab/"
	forbidden := map[string][]string{
		"builder":   {mod + "merge", mod + "emulation", mod + "internal", "github.com/google/go-containerregistry"},
		"merge":     {mod + "builder", mod + "emulation", mod + "internal", "github.com/moby/buildkit"},
		"emulation": {mod + "builder", mod + "merge", mod + "internal", "github.com/moby/buildkit", "github.com/google/go-containerregistry"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
