package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Set at link time by `make release` and mab's Dockerfile:
//
//	-ldflags "-X main.version=v1.2.3 -X main.commit=<sha> -X main.date=2026-11-23T11:32:07Z"
//
// Without them, the build info that go build stamps is read instead.
var (
	version = ""
	commit  = ""
	date    = ""
)

// buildkitModule is the module whose client mab links.
const buildkitModule = "github.com/moby/buildkit"

// versionInfo is what `mab version` prints. The JSON keys are a stable
// interface for scripts: keys are only ever added. A value that is not
// known is "" in JSON and "unknown" in the text format.
type versionInfo struct {
	// Version is the release (v1.2.3, or `git describe` output such as
	// v1.2.3-4-gabcdef0-dirty), the module version of `go install
	// …@v1.2.3`, or "(devel)"; a build of a modified tree ends in -dirty
	// (Go's own pseudo-versions say +dirty).
	Version string `json:"version"`
	// Commit is the full git revision the binary was built from.
	Commit string `json:"commit"`
	// Date is when the commit or build was made, RFC 3339 in UTC.
	Date string `json:"date"`
	// Go is the toolchain that built the binary (go1.26.8).
	Go string `json:"go"`
	// BuildKit is the version of the BuildKit client library.
	BuildKit string `json:"buildkit"`
	// Platform is what the binary was built for: GOOS/GOARCH, with the
	// variant for 32-bit ARM (linux/arm/v7).
	Platform string `json:"platform"`
}

func newVersionCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print mab's version, commit, build date, Go, BuildKit client and platform",
		Long: `Print what this mab binary is: its version, the git commit and date it was
built from, the Go toolchain, the BuildKit client library and the platform
it was built for.

--format json prints one JSON object with the keys version, commit, date,
go, buildkit and platform (stable: keys are only added, never renamed); an
unknown value is "" there and "unknown" in the text format.`,
		Example: `  mab version
  mab version --format json
  mab version --format json | jq -r .commit`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, _ := debug.ReadBuildInfo()
			return writeVersion(cmd.OutOrStdout(), format, versionFrom(info, linked{version, commit, date}))
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// writeVersion prints v in format ("text" or "json").
func writeVersion(w io.Writer, format string, v versionInfo) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding the version: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "text", "":
		_, err := fmt.Fprintf(w, "mab:       %s\ncommit:    %s\nbuilt:     %s\ngo:        %s\nbuildkit:  %s (client)\nplatform:  %s\n",
			orUnknown(v.Version), orUnknown(v.Commit), orUnknown(v.Date), orUnknown(v.Go), orUnknown(v.BuildKit), orUnknown(v.Platform))
		return err
	}
	return fmt.Errorf("unknown --format %q: want text or json", format)
}

// linked are the values set at link time.
type linked struct{ version, commit, date string }

// versionFrom is mab's version from the values set at link time and the
// build info (nil when the binary has none). A linked value wins; without
// one the main module's version (v1.2.3 for `go install …@v1.2.3`, a
// pseudo-version or "(devel)" for a build in a checkout), vcs.revision,
// vcs.time, and vcs.modified (→ -dirty) are used.
func versionFrom(info *debug.BuildInfo, l linked) versionInfo {
	v := versionInfo{Version: l.version, Commit: l.commit, Date: l.date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info == nil {
		if v.Version == "" {
			v.Version = "(devel)"
		}
		return v
	}
	if info.GoVersion != "" {
		v.Go = info.GoVersion
	}
	for _, d := range info.Deps {
		if d.Path == buildkitModule {
			v.BuildKit = d.Version
			if d.Replace != nil && d.Replace.Version != "" {
				v.BuildKit = d.Replace.Version
			}
		}
	}
	if goos, goarch := setting(info, "GOOS"), setting(info, "GOARCH"); goos != "" && goarch != "" {
		v.Platform = goos + "/" + goarch
		if goarm := setting(info, "GOARM"); goarch == "arm" && goarm != "" {
			v.Platform += "/v" + strings.SplitN(goarm, ",", 2)[0]
		}
	}
	if v.Commit == "" {
		v.Commit = setting(info, "vcs.revision")
	}
	if v.Date == "" {
		v.Date = setting(info, "vcs.time")
	}
	if v.Version == "" {
		v.Version = info.Main.Version
		if v.Version == "" {
			v.Version = "(devel)"
		}
		if setting(info, "vcs.modified") == "true" && !strings.HasSuffix(v.Version, "dirty") {
			v.Version += "-dirty"
		}
	}
	return v
}

func setting(info *debug.BuildInfo, key string) string {
	for _, s := range info.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
