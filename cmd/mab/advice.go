package main

import (
	"errors"
	"fmt"

	"github.com/mab-build/mab/builder"
)

// adviseBuilder adds to an error of package builder what the user can do
// about it with mab's flags: the library says what happened, the command
// line says what to type.
func adviseBuilder(err error) error {
	var auth *builder.AuthError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &auth):
		return fmt.Errorf("%w; log in with `docker login %s` (mab reads the Docker config and its credential helpers)", err, auth.Registry)
	case errors.Is(err, builder.ErrUnreachable):
		return fmt.Errorf("%w; start buildkitd, or pass --builder / set BUILDKIT_HOST (see `mab builder ls`)", err)
	case errors.Is(err, builder.ErrTLS):
		return fmt.Errorf("%w: --tlscacert, --tlscert and --tlskey need a tcp:// --builder", err)
	}
	return err
}
