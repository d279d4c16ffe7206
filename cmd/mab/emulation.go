package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/mab-build/mab/emulation"
	"github.com/spf13/cobra"
)

func newEmulationCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulation",
		Short: "Check, install and remove the QEMU handlers that emulated builds need",
		Long: `A build for a platform the machine cannot run natively needs a binfmt_misc
handler that runs its programs through a static QEMU, registered with the
F (fix-binary) flag so that it works inside build containers and the P
(preserve-argv0) flag that busybox-style programs need.`,
	}
	cmd.AddCommand(newEmulationStatusCmd(), newEmulationInstallCmd(), newEmulationUninstallCmd())
	return cmd
}

func newEmulationStatusCmd() *cobra.Command {
	var format, root string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show, per architecture, whether programs of it can run here",
		Example: `  mab emulation status
  mab emulation status --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("invalid --format %q: want table or json", format)
			}
			st, err := emulation.Status(root)
			if err != nil {
				return err
			}
			if format == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().StringVar(&root, "binfmt-root", emulation.DefaultRoot, "where binfmt_misc is mounted")
	return cmd
}

func printStatus(w io.Writer, st []emulation.ArchStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ARCH\tNATIVE\tREGISTERED\tENABLED\tINTERPRETER\tFLAGS\tF\tREADY")
	for _, s := range st {
		interp := s.Interpreter
		switch {
		case interp == "":
			interp = "-"
		case !s.InterpreterExists:
			interp += " (missing)"
		case !s.Static:
			interp += " (dynamic)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Arch, yes(s.Native), yes(s.Registered), yes(s.Enabled), interp, dash(s.Flags), yes(s.FixBinary), yes(s.Ready()))
	}
	tw.Flush()
}

func newEmulationInstallCmd() *cobra.Command {
	var opt emulation.InstallOptions
	cmd := &cobra.Command{
		Use:   "install ARCH...|all",
		Short: "Register static QEMU handlers (flags POCF) for architectures",
		Long: `Register a static qemu-<arch>-static from --qemu-dir or PATH as the
binfmt_misc handler of each architecture, with the flags P, O, C and F. Mounts
binfmt_misc when needed. Needs root. A working handler is left alone;
one without the F or P flag is replaced only with --force.`,
		Example: `  sudo mab emulation install arm64 arm
  sudo mab emulation install all
  sudo mab emulation install --qemu-dir /opt/qemu/bin riscv64`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arches, err := lookupArches(args)
			if err != nil {
				return err
			}
			out, err := emulation.Install(arches, opt)
			for _, o := range out {
				if o.Action != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "%-8s %s %s\n", o.Arch, o.Action, o.Interpreter)
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&opt.QEMUDir, "qemu-dir", "", "directory searched for qemu-<arch>-static before PATH")
	cmd.Flags().BoolVar(&opt.Force, "force", false, "replace a handler that lacks the F or P flag or whose interpreter is missing")
	cmd.Flags().StringVar(&opt.Root, "binfmt-root", emulation.DefaultRoot, "where binfmt_misc is mounted")
	return cmd
}

func newEmulationUninstallCmd() *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:     "uninstall ARCH...|all",
		Short:   "Remove the handlers of architectures",
		Example: `  sudo mab emulation uninstall riscv64`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arches, err := lookupArches(args)
			if err != nil {
				return err
			}
			removed, err := emulation.Uninstall(arches, root)
			for _, r := range removed {
				fmt.Fprintf(cmd.ErrOrStderr(), "removed %s\n", r)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&root, "binfmt-root", emulation.DefaultRoot, "where binfmt_misc is mounted")
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
