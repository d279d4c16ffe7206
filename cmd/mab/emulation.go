package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/emulation"
	"github.com/mab-build/mab/internal/pipeline"
	"github.com/mab-build/mab/internal/platform"
	"github.com/spf13/cobra"
)

func newEmulationCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulation",
		Short: "Check, install and remove the QEMU handlers that emulated builds need",
		Long: `A build for a platform the machine cannot run natively needs a binfmt_misc
handler that runs its programs through a static QEMU, registered with the
F (fix-binary) flag so that it works inside build containers and the P
(preserve-argv0) flag that busybox-style programs need.

Handlers live in the kernel of the machine that runs BuildKit. The host
installer registers them in this machine's kernel; the Docker installer
(--via docker) in the Docker daemon's, through an installer container.`,
	}
	cmd.AddCommand(newEmulationStatusCmd(), newEmulationInstallCmd(), newEmulationUninstallCmd())
	return cmd
}

// statusReport is the JSON of `mab emulation status`.
type statusReport struct {
	Arches  []emulation.ArchStatus `json:"arches"`
	Builder *builderPlatforms      `json:"builder,omitempty"`
}

type builderPlatforms struct {
	Address   string   `json:"address"`
	Platforms []string `json:"platforms,omitempty"`
	Error     string   `json:"error,omitempty"`
}

func newEmulationStatusCmd() *cobra.Command {
	var format, root, addr string
	var tls tlsFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show, per architecture, whether programs of it can run here",
		Long: `For every architecture mab knows: whether it is native, the binfmt_misc
handler that serves it (registered, enabled, interpreter, whether the
interpreter exists and is static, flags, F), and WORKS: whether a tiny
program of that architecture really runs. As root the program runs
chrooted in an empty folder, as in a build container, so a handler without
F shows "no".

When a BuildKit builder is reachable (--builder, $BUILDKIT_HOST, or the
default socket; a tcp:// one with the TLS flags), the platforms its
workers report are listed too: those, not this machine's kernel, decide
what a build can run.`,
		Example: `  mab emulation status
  mab emulation status --format json
  mab emulation status --builder tcp://buildkit.internal:1234
  mab emulation status --builder tcp://buildkit.internal:1234 --tlscacert ca.pem --tlscert cert.pem --tlskey key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("invalid --format %q: want table or json", format)
			}
			st, err := emulation.Status(root)
			if err != nil {
				return err
			}
			emulation.ProbeAll(cmd.Context(), st)
			rep := statusReport{Arches: st, Builder: workerPlatforms(cmd.Context(), addr, tls)}
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printStatus(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().StringVar(&root, "binfmt-root", emulation.DefaultRoot, "where binfmt_misc is mounted")
	cmd.Flags().StringVar(&addr, "builder", "", "BuildKit address whose worker platforms to list (default $BUILDKIT_HOST, then "+builder.DefaultAddress+" when it exists)")
	tls.add(cmd.Flags())
	return cmd
}

// workerPlatforms asks the builder at addr for its platforms. It returns
// nil when no builder was named and the default socket does not exist; an
// unreachable builder that was named is reported, not fatal: the status of
// the local kernel is still worth showing.
func workerPlatforms(ctx context.Context, flag string, tls tlsFlags) *builderPlatforms {
	addr := builder.Address(flag, os.Getenv)
	if addr == "" {
		if !builder.DefaultSocketExists() {
			return nil
		}
		addr = builder.DefaultAddress
	}
	out := &builderPlatforms{Address: addr}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	have, err := builder.Probe(ctx, addr, tls.forEndpoint(addr, builder.TLS{}))
	if err != nil {
		out.Error = err.Error()
		return out
	}
	for _, p := range have {
		out.Platforms = append(out.Platforms, platform.Format(p))
	}
	return out
}

func printStatus(w io.Writer, rep statusReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARCH\tNATIVE\tREGISTERED\tENABLED\tINTERPRETER\tFLAGS\tF\tWORKS")
	for _, s := range rep.Arches {
		interp := s.Interpreter
		switch {
		case interp == "":
			interp = "-"
		case !s.InterpreterExists:
			interp += " (missing)"
		case !s.Static:
			interp += " (dynamic)"
		default:
			interp += " (static)"
		}
		works := yes(s.Works)
		if !s.Works {
			works = "no: " + s.WorksError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Arch, yes(s.Native), yes(s.Registered), yes(s.Enabled), interp, dash(s.Flags), yes(s.FixBinary), works)
	}
	tw.Flush()
	if b := rep.Builder; b != nil {
		if b.Error != "" {
			fmt.Fprintf(w, "\nbuilder %s: %s\n", b.Address, b.Error)
		} else {
			fmt.Fprintf(w, "\nbuilder %s runs: %s\n", b.Address, strings.Join(b.Platforms, ", "))
		}
	}
}

func newEmulationInstallCmd() *cobra.Command {
	var opt pipeline.EmulatorOptions
	var via, addr string
	cmd := &cobra.Command{
		Use:   "install ARCH...|all",
		Short: "Register static QEMU handlers (flags POCF) for architectures",
		Long: `Register QEMU handlers with the flags POCF, with one of two installers:

  host    registers a static qemu-<arch>-static from --qemu-dir or PATH in
          this machine's kernel, mounting binfmt_misc when needed. Needs root.
          A working handler is left alone; one without the F or P flag is
          replaced only with --force; a dynamically linked QEMU is refused.
  docker  runs the installer image (tonistiigi/binfmt pinned by digest, or
          --image) in a container of the Docker daemon at $DOCKER_HOST, so
          the handlers land in the daemon's kernel, wherever it runs.

--via auto (the default) picks docker when the builder (--builder, then
$BUILDKIT_HOST) is the Docker daemon ("docker", docker+unix://…, docker+tcp://…) or a
docker-container:// endpoint, host otherwise. Every check runs before
anything is registered; on any failure the kernel is left as it was.`,
		Example: `  sudo mab emulation install arm64 arm
  sudo mab emulation install all
  sudo mab emulation install --qemu-dir /opt/qemu/bin riscv64
  mab emulation install --via docker arm64 riscv64
  mab emulation install --via docker --image registry.internal/binfmt@sha256:… all`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arches, err := lookupArches(args)
			if err != nil {
				return err
			}
			inst, err := pipeline.NewInstaller(via, builder.Address(addr, os.Getenv), opt)
			if err != nil {
				return err
			}
			out, err := inst.Install(cmd.Context(), arches)
			if err != nil {
				return advise(err, "install")
			}
			pipeline.PrintOutcomes(cmd.ErrOrStderr(), inst, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&via, "via", pipeline.ViaAuto, "installer: auto, host or docker")
	f.StringVar(&opt.Image, "image", emulation.DefaultInstallerImage, "installer image of --via docker")
	f.StringVar(&addr, "builder", "", "BuildKit address that --via auto decides from (default $BUILDKIT_HOST)")
	f.StringVar(&opt.QEMUDir, "qemu-dir", "", "directory searched for qemu-<arch>-static before PATH (host)")
	f.BoolVar(&opt.Force, "force", false, "replace a handler that lacks the F or P flag or whose interpreter is missing (host)")
	f.StringVar(&opt.BinfmtRoot, "binfmt-root", emulation.DefaultRoot, "where binfmt_misc is mounted (host)")
	return cmd
}

func newEmulationUninstallCmd() *cobra.Command {
	var root, via, image, addr string
	cmd := &cobra.Command{
		Use:   "uninstall ARCH...|all",
		Short: "Remove the handlers of architectures",
		Long: `Remove binfmt_misc handlers (by writing -1 to their entry). A named
architecture loses whichever handler serves it; "all" removes only the
handlers named qemu-<arch> (mab's and tonistiigi/binfmt's) and leaves those
that a distribution or a user registered under other names alone.`,
		Example: `  sudo mab emulation uninstall riscv64
  sudo mab emulation uninstall all
  mab emulation uninstall --via docker riscv64`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arches, err := lookupArches(args)
			if err != nil {
				return err
			}
			inst, err := pipeline.NewInstaller(via, builder.Address(addr, os.Getenv), pipeline.EmulatorOptions{Image: image, BinfmtRoot: root})
			if err != nil {
				return err
			}
			ownOnly := len(args) == 1 && args[0] == "all"
			out, err := inst.Uninstall(cmd.Context(), arches, ownOnly)
			if err == nil || len(out) > 0 { // what was removed before a failure
				pipeline.PrintOutcomes(cmd.ErrOrStderr(), inst, out)
			}
			return advise(err, "uninstall")
		},
	}
	f := cmd.Flags()
	f.StringVar(&via, "via", pipeline.ViaAuto, "installer: auto, host or docker")
	f.StringVar(&image, "image", emulation.DefaultInstallerImage, "installer image of --via docker")
	f.StringVar(&addr, "builder", "", "BuildKit address that --via auto decides from (default $BUILDKIT_HOST)")
	f.StringVar(&root, "binfmt-root", emulation.DefaultRoot, "where binfmt_misc is mounted (host)")
	return cmd
}

// lookupArches resolves the arguments of install and uninstall; "all" is
// every foreign architecture mab knows.
func lookupArches(args []string) ([]emulation.Arch, error) {
	var out []emulation.Arch
	for _, a := range args {
		if a == "all" {
			for _, arch := range emulation.Arches {
				if !arch.Native() {
					out = append(out, arch)
				}
			}
			continue
		}
		arch, err := emulation.Lookup(a)
		if err != nil {
			return nil, err
		}
		out = append(out, arch)
	}
	return out, nil
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
