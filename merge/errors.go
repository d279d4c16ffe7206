package merge

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Errors a caller may branch on with errors.Is.
var (
	// ErrUnauthorized: a registry refused the credentials (or their absence).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: a source or the target names no manifest.
	ErrNotFound = errors.New("no such manifest")
	// ErrDuplicatePlatform: two children would be listed for one platform.
	ErrDuplicatePlatform = errors.New("duplicate platform")
	// ErrPlatformMismatch: an override or a listing contradicts an image config.
	ErrPlatformMismatch = errors.New("platform mismatch")
	// ErrConcurrentWrite: the target changed under mab while it wrote it.
	ErrConcurrentWrite = errors.New("target changed by another writer")
	// ErrPlainHTTP: plain HTTP to a registry that is not on loopback, without WithInsecure.
	ErrPlainHTTP = errors.New("plain HTTP refused")
	// ErrInvalid: the request itself is wrong (bad reference, bad option).
	ErrInvalid = errors.New("invalid")
)

// explain turns a registry's refusal into a message that says who refused
// and what to do. Other errors are returned as they are.
func explain(reg name.Registry, err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	switch {
	case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden || hasCode(te, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
		login := "docker login " + reg.RegistryStr()
		if reg.RegistryStr() == name.DefaultRegistry {
			login = "docker login"
		}
		return fmt.Errorf("%w: registry %s refused access (%d %s); log in with `%s`", ErrUnauthorized, reg.RegistryStr(), te.StatusCode, http.StatusText(te.StatusCode), login)
	case te.StatusCode == http.StatusNotFound || hasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode):
		return fmt.Errorf("%w (%v)", ErrNotFound, err)
	}
	return err
}

func hasCode(te *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range te.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}
