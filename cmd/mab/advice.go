package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/builder"
	"github.com/mab-build/mab/emulation"
	"github.com/mab-build/mab/merge"
)

// advise adds to err what the user can type to fix it: each library
// package (builder, emulation, merge) says what happened in typed errors,
// and only the command line, here, knows its flags. command is the
// subcommand the advice is for: build, install, uninstall, merge, inspect.
// The error it returns prints registry-supplied text escaped (see
// printable).
func advise(err error, command string) error {
	return printable(adviseMerge(adviseBuilder(emulationAdvice(err, command))))
}

// printableError is an error whose message is safe for a terminal: each
// line through merge.Printable, the lines kept (main folds them). It
// unwraps to the error it shows.
type printableError struct{ err error }

func (e printableError) Error() string {
	lines := strings.Split(e.err.Error(), "\n")
	for i, l := range lines {
		lines[i] = merge.Printable(l)
	}
	return strings.Join(lines, "\n")
}

func (e printableError) Unwrap() error { return e.err }

// printable returns err with a message safe for a terminal: a registry's
// error text, a platform or a media type may hold escape sequences.
func printable(err error) error {
	if err == nil {
		return nil
	}
	return printableError{err}
}

// adviseBuilder adds to an error of package builder what the user can do
// about it with mab's flags: the library says what happened, the command
// line says what to type.
func adviseBuilder(err error) error {
	var auth *builder.AuthError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &auth):
		return fmt.Errorf("%w; log in with %s; mab reads the Docker config and its credential helpers", err, loginCommand(auth.Registry))
	case errors.Is(err, builder.ErrUnreachable):
		return fmt.Errorf("%w; start buildkitd, or pass --builder / set BUILDKIT_HOST (see `mab builder ls`)", err)
	case errors.Is(err, builder.ErrTLS):
		return fmt.Errorf("%w; --tlscacert, --tlscert and --tlskey apply to tcp:// builders, and a tcp:// --node takes its own as PLATFORM=tcp://HOST:PORT,cacert=FILE,cert=FILE,key=FILE", err)
	}
	return err
}

// emulationAdvice adds to an error of an emulation.Installer what the user
// of command ("install", "uninstall" or "build") can do about it; the
// emulation package names no flag or command itself. It returns nil for nil.
func emulationAdvice(err error, command string) error {
	if err == nil {
		return nil
	}
	var hint string
	var broken *emulation.BrokenHandlerError
	var mount *emulation.MountError
	var image *emulation.InstallerImageError
	var still *emulation.StillServedError
	switch {
	case errors.As(err, &still):
		hint = fmt.Sprintf("; on the daemon's machine, `sudo mab emulation uninstall --via host %s` removes whichever handler serves it", strings.Join(still.Arches, " "))
	case errors.Is(err, emulation.ErrNeedRoot) && command == "uninstall":
		hint = ": run `sudo mab emulation uninstall ...`"
	case errors.Is(err, emulation.ErrNeedRoot):
		hint = ": run `sudo mab emulation install ...`"
	case errors.As(err, &broken) && command == "build":
		hint = fmt.Sprintf("; replace it with a static QEMU and the F flag: `sudo mab emulation install --force %s`", broken.Arch)
	case errors.As(err, &broken):
		hint = "; pass --force to replace it with a static QEMU and the F flag"
	case errors.Is(err, emulation.ErrNoInterpreter) && command == "install":
		hint = " (or name the folder that has it with --qemu-dir)"
	case errors.As(err, &mount) && command == "build":
		hint = " (in a container, run it with CAP_SYS_ADMIN)"
	case errors.As(err, &mount):
		hint = " (in a container, use --via docker or run it with CAP_SYS_ADMIN)"
	case errors.As(err, &image) && command == "build":
		hint = " (pass --emulator-image with an image the daemon has, e.g. one loaded with `docker load`)"
	case errors.As(err, &image):
		hint = " (pass --image with an image the daemon has, e.g. one loaded with `docker load`)"
	default:
		return err
	}
	return fmt.Errorf("%w%s", err, hint)
}

// adviseMerge adds to an error of package merge what the user can do about
// it with mab's flags or with docker: the library says what happened, the
// command line says what to type. Every command that reaches a registry
// through merge (build, merge, inspect) returns its errors through here.
func adviseMerge(err error) error {
	if err == nil {
		return nil
	}
	var advice []string
	var auth *merge.AuthError
	if errors.As(err, &auth) {
		advice = append(advice, "log in with "+loginCommand(auth.Registry))
	}
	var override *merge.OverrideError
	if errors.As(err, &override) {
		advice = append(advice, fmt.Sprintf("pass --force to list it as %s anyway", merge.FormatPlatform(&override.Forced)))
	}
	var plain *merge.PlainHTTPError
	switch {
	case errors.As(err, &plain):
		advice = append(advice, fmt.Sprintf("pass --insecure-registry %s to allow plain HTTP to it", plain.Host))
	case errors.Is(err, merge.ErrPlainHTTP):
		advice = append(advice, "pass --insecure-registry HOST to allow plain HTTP to it")
	}
	if errors.Is(err, merge.ErrDockerList) {
		advice = append(advice, "use --media-type oci or auto")
	}
	if errors.Is(err, merge.ErrOverrideOfIndex) {
		advice = append(advice, "use --platform to pick its platforms")
	}
	if len(advice) == 0 {
		return err
	}
	return fmt.Errorf("%w; %s", err, strings.Join(advice, "; "))
}

// loginCommand is the commands that store credentials for registry in
// the Docker config that mab reads: mab's own, then docker's.
func loginCommand(registry string) string {
	if registry == name.DefaultRegistry {
		return "`mab login -u USER --password-stdin` (or `docker login`)"
	}
	return fmt.Sprintf("`mab login %s -u USER --password-stdin` (or `docker login %s`)", registry, registry)
}
