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

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mab's version and the BuildKit client it was built with",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, bk := versions()
			fmt.Fprintf(cmd.OutOrStdout(), "mab %s\nbuildkit client %s\n%s %s/%s\n", v, bk, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

func versions() (mab, buildkit string) {
	mab, buildkit = version, "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return orDevel(mab), buildkit
	}
	if mab == "" {
		mab = info.Main.Version
	}
	for _, d := range info.Deps {
		if d.Path == "github.com/moby/buildkit" {
			buildkit = d.Version
		}
	}
	return orDevel(mab), buildkit
}

func orDevel(v string) string {
	if v == "" {
		return "(devel)"
	}
	return v
}
