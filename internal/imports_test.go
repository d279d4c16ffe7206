package internal_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestPackagesStayIndependent keeps the data flowing one way: cmd →
// pipeline → (emulation, builder, merge). None of those three imports
// another, nor any of mab's packages but the small shared ones allowed
// here, and BuildKit and go-containerregistry never meet in one of them.
func TestPackagesStayIndependent(t *testing.T) {
	const mod = "github.com/mab-build/mab/"
	rules := map[string]struct {
		allowed   []string // mab packages it may import
		forbidden []string // other modules it may not
	}{
		"builder":   {[]string{"internal/platform", "internal/dockerapi"}, []string{"github.com/google/go-containerregistry"}},
		"merge":     {[]string{"internal/platform"}, []string{"github.com/moby/buildkit", "github.com/moby/moby"}},
		"ocilayout": {nil, []string{"github.com/moby/buildkit", "github.com/moby/moby"}},
		"emulation": {[]string{"internal/platform", "internal/dockerapi"}, []string{"github.com/moby/buildkit", "github.com/google/go-containerregistry"}},
	}
	for pkg, r := range rules {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if own, ok := strings.CutPrefix(dep, mod); ok && own != pkg && !slices.Contains(r.allowed, own) {
				t.Errorf("%s imports %s", pkg, dep)
			}
			for _, b := range r.forbidden {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
