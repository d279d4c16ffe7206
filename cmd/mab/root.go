package main

import (
	"github.com/mab-build/mab/internal/dockerconfig"
	"github.com/spf13/cobra"
)

// NewRootCmd builds a fresh command tree; tests run it with their own
// arguments and writers.
func NewRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "mab",
		Short: "Build one Dockerfile into one multi-architecture image tag",
		Long: `mab builds a Dockerfile once per platform through BuildKit, pushes each
platform under an arch tag (app:1.4-arm64) and merges them into one
manifest list under app:1.4. It checks, and on request installs, the QEMU
handlers that emulated platforms need.`,
		Example: `  mab build --platform linux/amd64,linux/arm64 -t registry.example.com/app:1.4 .
  mab merge -t registry.example.com/app:1.4 registry.example.com/app:1.4-amd64 registry.example.com/app:1.4-arm64
  mab inspect registry.example.com/app:1.4
  mab build --platform linux/amd64,linux/arm64 --output type=oci,dest=app.tar .
  mab save registry.example.com/app:1.4 app.tar
  sudo mab emulation install arm64 arm
  printenv REGISTRY_PASSWORD | mab --config ./docker-config login registry.example.com -u ci-bot --password-stdin`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var configDir string
	root.PersistentFlags().StringVar(&configDir, "config", "", "Docker config folder that every command reads credentials (and credential helpers) from and login writes to (default $DOCKER_CONFIG, else ~/.docker)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if cmd.Flags().Changed("config") {
			return dockerconfig.SetDir(configDir)
		}
		return nil
	}
	root.AddCommand(newBuildCmd(), newMergeCmd(), newCopyCmd(), newInspectCmd(), newSaveCmd(), newEmulationCmd(), newBuilderCmd(), newVersionCmd(), newLoginCmd(), newLogoutCmd())
	return root
}
