package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/internal/dockerconfig"
	"github.com/mab-build/mab/merge"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// loginFlags are the flags of mab login.
type loginFlags struct {
	username      string
	password      string
	passwordStdin bool
	plain         plainHTTPFlags
}

func newLoginCmd() *cobra.Command {
	var f loginFlags
	cmd := &cobra.Command{
		Use:   "login [flags] [REGISTRY]",
		Short: "Check credentials against a registry and save them in the Docker config",
		Long: `Log in to REGISTRY (HOST[:PORT]; Docker Hub when left out), as docker login
does, without the docker CLI: the registry is asked first whether it
accepts the credentials, and only then are they saved in the Docker config
folder (--config, else $DOCKER_CONFIG, else ~/.docker). A credential
helper of the config (credHelpers for that registry, else credsStore) keeps
them when there is one; otherwise config.json keeps them base64-encoded in
"auths", which is not encryption: the file is written with mode 0600.
Every mab command then reads them from the same folder.

The password is read from standard input (--password-stdin), or typed at
a prompt that does not echo it when standard input is a terminal.
--password PASSWORD puts it on the command line, where other users of the
machine can read it (ps, /proc) and shell history keeps it: mab refuses it
whenever --password-stdin could work, and accepts it only when standard
input is not readable at all (closed, or /dev/null, as in some CI runners
that start commands without an input).`,
		Example: `  # in CI, from a secret in the environment
  printenv REGISTRY_PASSWORD | mab login registry.example.com -u ci-bot --password-stdin

  # a config folder of its own, then a build that uses it
  mab --config ./ci-docker-config login registry.example.com -u ci-bot --password-stdin < password.txt
  mab --config ./ci-docker-config build --platform linux/amd64,linux/arm64 -t registry.example.com/app:1 .

  # at a terminal: prompts for the password
  mab login registry.example.com -u alice`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.plain.check(); err != nil {
				return err
			}
			server := name.DefaultRegistry
			if len(args) == 1 {
				server = args[0]
			}
			reg, err := loginRegistry(server, f.plain)
			if err != nil {
				return err
			}
			password, err := f.readPassword(cmd)
			if err != nil {
				return err
			}
			creds := authn.FromConfig(authn.AuthConfig{Username: f.username, Password: password})
			client := merge.New(append(f.plain.options(), merge.WithKeychain(fixedKeychain{creds}))...)
			if err := client.CheckLogin(cmd.Context(), reg); err != nil {
				return advise(hidePassword(err, password), "login")
			}
			where, err := dockerconfig.Store(reg.RegistryStr(), f.username, password)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "mab: credentials of %s for %s saved in %s\n", f.username, reg.RegistryStr(), where)
			fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.username, "username", "u", "", "user name (required)")
	fl.BoolVar(&f.passwordStdin, "password-stdin", false, "read the password (or token) from standard input; one trailing newline is dropped")
	fl.StringVarP(&f.password, "password", "p", "", "the password on the command line: refused unless standard input is closed or /dev/null (see above)")
	f.plain.add(fl)
	_ = cmd.MarkFlagRequired("username")
	return cmd
}

// loginRegistry parses the REGISTRY argument of login and logout: HOST or
// HOST:PORT, a leading https:// and a trailing / tolerated, as docker
// login tolerates them.
func loginRegistry(server string, plain plainHTTPFlags) (name.Registry, error) {
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/")
	if host == "docker.io" || host == "registry-1.docker.io" || host == "index.docker.io/v1" {
		host = name.DefaultRegistry
	}
	var opts []name.Option
	if plain.all || (len(plain.hosts) > 0 && merge.PlainHTTPAllowed(host, plain.hosts...)) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, append(opts, name.StrictValidation)...)
	if err != nil || strings.ContainsAny(host, "/@") {
		return name.Registry{}, fmt.Errorf("invalid registry %q: want HOST or HOST:PORT, e.g. registry.example.com or 127.0.0.1:5000", server)
	}
	return reg, nil
}

// readPassword is the password of --password-stdin, the prompt, or
// --password where nothing else can work.
func (f loginFlags) readPassword(cmd *cobra.Command) (string, error) {
	set := cmd.Flags().Changed("password")
	switch {
	case set && f.passwordStdin:
		return "", errors.New("--password and --password-stdin exclude each other; use --password-stdin")
	case set:
		if !stdinUnusable(cmd.InOrStdin()) {
			return "", errors.New("--password on the command line is visible to other users of the machine: pipe the password to --password-stdin instead")
		}
		fmt.Fprintln(cmd.ErrOrStderr(), "mab: WARNING: --password is visible to other users of this machine (standard input is closed, so it was accepted)")
		return nonEmpty(f.password)
	case f.passwordStdin:
		b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
		if err != nil {
			return "", fmt.Errorf("reading the password from standard input: %w", err)
		}
		return nonEmpty(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
	}
	in, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return "", errors.New("no password: pass --password-stdin and pipe it in, or run mab login at a terminal to be asked for it")
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Password: ")
	b, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(cmd.ErrOrStderr())
	if err != nil {
		return "", fmt.Errorf("reading the password at the terminal: %w", err)
	}
	return nonEmpty(string(bytes.TrimSpace(b)))
}

func nonEmpty(password string) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	return password, nil
}

// stdinUnusable reports whether standard input cannot carry a password:
// closed, or a character device that is not a terminal (/dev/null).
func stdinUnusable(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		return false // a reader of the caller's: it can
	}
	fi, err := f.Stat()
	if err != nil {
		return true
	}
	return fi.Mode()&os.ModeCharDevice != 0 && !term.IsTerminal(int(f.Fd()))
}

// hidePassword is err with every occurrence of password masked: a
// registry's error text could echo what it was sent.
func hidePassword(err error, password string) error {
	if err == nil || !strings.Contains(err.Error(), password) {
		return err
	}
	return maskedError{err: err, password: password}
}

type maskedError struct {
	err      error
	password string
}

func (e maskedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.password, "***") }
func (e maskedError) Unwrap() error { return e.err }

// fixedKeychain gives the credentials being checked by login to every
// registry: the Docker config is not read until they are accepted.
type fixedKeychain struct{ auth authn.Authenticator }

func (k fixedKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

func newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [REGISTRY]",
		Short: "Remove a registry's credentials from the Docker config",
		Long: `Remove the credentials of REGISTRY (HOST[:PORT]; Docker Hub when left out)
from the Docker config folder (--config, else $DOCKER_CONFIG, else
~/.docker) and from its credential helper, under each key docker login
may have used (HOST, https://HOST, http://HOST). Not being logged in is not
an error.`,
		Example: `  mab logout registry.example.com
  mab --config ./ci-docker-config logout registry.example.com`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := name.DefaultRegistry
			if len(args) == 1 {
				server = args[0]
			}
			reg, err := loginRegistry(server, plainHTTPFlags{})
			if err != nil {
				return err
			}
			found, err := dockerconfig.Erase(reg.RegistryStr())
			if err != nil {
				return err
			}
			if !found {
				fmt.Fprintf(cmd.OutOrStdout(), "Not logged in to %s\n", reg.RegistryStr())
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed login credentials for %s\n", reg.RegistryStr())
			return nil
		},
	}
}
