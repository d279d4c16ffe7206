package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/internal/dockerconfig"
	"github.com/mab-build/mab/merge"
	"github.com/spf13/pflag"
)

// plainHTTPFlags are --insecure and --insecure-registry, of every command
// that reaches registries through merge: who may be spoken to over plain
// HTTP (and so be sent credentials in the clear). Loopback registries
// always may. --registry-timeout rides along: how long a registry may
// stay silent.
type plainHTTPFlags struct {
	all     bool          // --insecure: every registry and token server of the command
	hosts   []string      // --insecure-registry HOST[:PORT], repeatable
	timeout time.Duration // --registry-timeout; 0 is merge's default
}

func (f *plainHTTPFlags) add(fl *pflag.FlagSet) {
	fl.BoolVar(&f.all, "insecure", false, "allow plain HTTP to every registry and token server this command talks to, and so send them credentials in the clear (prefer --insecure-registry)")
	fl.StringArrayVar(&f.hosts, "insecure-registry", nil, "allow plain HTTP to this registry only, HOST (any port) or HOST:PORT (repeatable); loopback registries need neither flag")
	fl.DurationVar(&f.timeout, "registry-timeout", 0, "how long a registry may stay silent in one request before it is retried (default 30s; each request but a blob transfer also ends after 2m or this, whichever is longer)")
}

// check refuses an --insecure-registry that is not HOST or HOST:PORT, and
// a negative --registry-timeout.
func (f plainHTTPFlags) check() error {
	if f.timeout < 0 {
		return fmt.Errorf("invalid --registry-timeout %s: want a positive duration such as 30s", f.timeout)
	}
	for _, h := range f.hosts {
		u, err := url.Parse("//" + h)
		if h == "" || err != nil || u.Host != h || u.Hostname() == "" || strings.ContainsAny(h, "/@") {
			return fmt.Errorf("invalid --insecure-registry %q: want HOST or HOST:PORT, e.g. registry.local or 10.0.0.5:5000", h)
		}
	}
	return nil
}

// options are the merge client options of the flags.
func (f plainHTTPFlags) options() []merge.Option {
	opts := []merge.Option{merge.WithKeychain(dockerconfig.Keychain), merge.WithInsecure(f.all), merge.WithInsecureRegistries(f.hosts...)}
	if f.timeout > 0 {
		opts = append(opts, merge.WithTimeout(f.timeout, max(2*time.Minute, f.timeout)))
	}
	return opts
}

// nameOptions are the options to parse ref (a reference, or a SOURCE with
// =PLATFORM) with: name.Insecure when its registry may be spoken to over
// plain HTTP, by the rule the merge client applies.
func (f plainHTTPFlags) nameOptions(ref string) []name.Option {
	ref, _, _ = strings.Cut(ref, "=")
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil // the caller's parse reports it
	}
	if f.all || (len(f.hosts) > 0 && merge.PlainHTTPAllowed(r.Context().RegistryStr(), f.hosts...)) {
		return []name.Option{name.Insecure}
	}
	return nil
}
