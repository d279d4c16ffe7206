package main

import (
	"fmt"
	"os"

	"github.com/mab-build/mab/internal/pipeline"
	"github.com/spf13/cobra"
)

func newBuildCmd() *cobra.Command {
	var o pipeline.Options
	cmd := &cobra.Command{
		Use:   "build [flags] CONTEXT",
		Short: "Build, push and merge one image per platform",
		Long: `Build the Dockerfile once per platform through BuildKit, push each platform
under its arch tag (TAG-amd64, TAG-arm64, TAG-armv7), merge them into one
index under TAG, and read TAG back to verify it.

Every check that needs no daemon runs first: platforms, the tag, the arch
tags, the context and the Dockerfile. The final tag is written only when
every platform succeeded. The final digest is printed on stdout; progress
and the summary go to stderr.`,
		Example: `  # three platforms into a registry
  mab build --platform linux/amd64,linux/arm64,linux/arm/v7 -t registry.example.com/app:1.4 .

  # a local plain-HTTP registry and a base image argument
  mab build --insecure --platform linux/amd64,linux/arm64 \
    --build-arg BASE=127.0.0.1:5000/busybox:latest -t 127.0.0.1:5000/hello:dev examples/hello

  # install missing QEMU handlers first (needs root on the builder's host)
  sudo mab build --install-emulators --platform linux/amd64,linux/riscv64 -t reg/app:1 .

  # another BuildKit
  mab build --builder tcp://buildkit.internal:1234 --platform linux/arm64 -t reg/app:1 .`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ContextDir = args[0]
			plan, err := pipeline.NewPlan(o, os.Getenv)
			if err != nil {
				return err
			}
			res, err := pipeline.Run(cmd.Context(), plan, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Digest)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Platforms, "platform", nil, "platforms to build, comma-separated or repeated (linux/amd64,linux/arm64,linux/arm/v7)")
	f.StringVarP(&o.Tag, "tag", "t", "", "final tag, REGISTRY/REPO:TAG")
	f.StringVarP(&o.Dockerfile, "file", "f", "", "Dockerfile (default CONTEXT/Dockerfile)")
	f.StringArrayVar(&o.BuildArgs, "build-arg", nil, "build argument KEY=VALUE (KEY alone takes the value from the environment)")
	f.StringVar(&o.Builder, "builder", "", "BuildKit address (default $BUILDKIT_HOST, then unix:///run/buildkit/buildkitd.sock)")
	f.BoolVar(&o.Insecure, "insecure", false, "allow a plain-HTTP registry")
	f.StringVar(&o.Progress, "progress", "auto", "progress output: auto, plain, tty, quiet or rawjson")
	f.StringVar(&o.Suffix, "suffix", "", "arch tag template (default "+pipeline.DefaultSuffix+"; fields .Tag .OS .Arch .Variant)")
	f.BoolVar(&o.Emulators.Install, "install-emulators", false, "install the QEMU handlers of platforms the builder cannot run (host or Docker installer, chosen from --builder), then check again")
	_ = cmd.MarkFlagRequired("platform")
	_ = cmd.MarkFlagRequired("tag")
	return cmd
}
