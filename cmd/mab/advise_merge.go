package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/mab-build/mab/merge"
)

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
		advice = append(advice, fmt.Sprintf("log in with `%s`", loginCommand(auth.Registry)))
	}
	var override *merge.OverrideError
	if errors.As(err, &override) {
		advice = append(advice, fmt.Sprintf("pass --force to list it as %s anyway", merge.FormatPlatform(&override.Override)))
	}
	if errors.Is(err, merge.ErrPlainHTTP) {
		advice = append(advice, "pass --insecure to allow it")
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

// loginCommand is the docker command that stores credentials for registry.
func loginCommand(registry string) string {
	if registry == name.DefaultRegistry {
		return "docker login"
	}
	return "docker login " + registry
}
