package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); without
// it, the module version from the build info is used.
var version = ""

// commit and date are set at link time too (-X main.commit=… -X
// main.date=…), by the image's Dockerfile; empty, they are not printed.
var commit, date = "", ""

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mab's version and the BuildKit client it was built with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, bk := versions()
			fmt.Fprintf(cmd.OutOrStdout(), "mab %s\nbuildkit client %s\n%s %s/%s\n", v, bk, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			if commit != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "commit %s\nbuilt %s\n", commit, date)
			}
			return nil
		},
	}
}

func versions() (mab, buildkit string) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return orDevel(version), "unknown"
	}
	return versionsFrom(info, version)
}

// versionsFrom is mab's version and the BuildKit client's from the build
// info: linked (set at link time) wins, then the main module's version,
// which a build from a git checkout without a release tag gives as
// "(devel)" (Go before 1.24, or workspace builds) or as a pseudo-version.
// Without a linked version, the VCS revision that go build stamps into
// the build info follows, with whether the tree was modified.
func versionsFrom(info *debug.BuildInfo, linked string) (mab, buildkit string) {
	mab, buildkit = linked, "unknown"
	if mab == "" {
		mab = info.Main.Version
	}
	for _, d := range info.Deps {
		if d.Path == "github.com/moby/buildkit" {
			buildkit = d.Version
		}
	}
	if rev := setting(info, "vcs.revision"); linked == "" && rev != "" {
		rev = "revision " + rev
		if setting(info, "vcs.modified") == "true" {
			rev += ", modified"
		}
		mab = orDevel(mab) + " (" + rev + ")"
	}
	return orDevel(mab), buildkit
}

func setting(info *debug.BuildInfo, key string) string {
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

func orDevel(v string) string {
	if v == "" {
		return "(devel)"
	}
	return v
}
