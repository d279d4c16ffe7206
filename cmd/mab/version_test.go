package main

import (
	"runtime/debug"
	"testing"
)

// TestVersionNamesVCSRevision: a build from a git checkout without a
// release version prints its revision and whether it was modified.
func TestVersionNamesVCSRevision(t *testing.T) {
	info := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/mab-build/mab", Version: "(devel)"},
		Deps: []*debug.Module{{Path: "github.com/moby/buildkit", Version: "v0.34.2"}},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"},
		},
	}
	for _, c := range []struct {
		linked, main, modified, want string
	}{
		{"", "(devel)", "true", "(devel) (revision 0123456789abcdef0123456789abcdef01234567, modified)"},
		{"", "(devel)", "false", "(devel) (revision 0123456789abcdef0123456789abcdef01234567)"},
		{"", "", "false", "(devel) (revision 0123456789abcdef0123456789abcdef01234567)"},
		{"", "v0.0.0-20260101000000-0123456789ab+dirty", "true", "v0.0.0-20260101000000-0123456789ab+dirty (revision 0123456789abcdef0123456789abcdef01234567, modified)"},
		{"v1.2.3", "(devel)", "true", "v1.2.3"},
	} {
		info.Main.Version = c.main
		info.Settings[2].Value = c.modified
		mab, bk := versionsFrom(info, c.linked)
		if mab != c.want || bk != "v0.34.2" {
			t.Errorf("linked %q, main %q, modified %s: %q, %q; want %q", c.linked, c.main, c.modified, mab, bk, c.want)
		}
	}
	info.Settings = nil
	info.Main.Version = "(devel)"
	if mab, _ := versionsFrom(info, ""); mab != "(devel)" {
		t.Errorf("without VCS info: %q", mab)
	}
}
