package merge

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Errors a caller may branch on with errors.Is. None of them says what a
// user should do: that depends on the program (its flags, its login
// command), so the caller adds it.
var (
	// ErrUnauthorized: a registry refused the credentials (or their
	// absence). The error is an *AuthError, which names the registry.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: a source or the target names no manifest.
	ErrNotFound = errors.New("no such manifest")
	// ErrDuplicatePlatform: two children would be listed for one platform.
	ErrDuplicatePlatform = errors.New("duplicate platform")
	// ErrPlatformMismatch: an override or a listing contradicts an image
	// config. An override refused this way is an *OverrideError.
	ErrPlatformMismatch = errors.New("platform mismatch")
	// ErrConcurrentWrite: the target changed under mab while it wrote it.
	ErrConcurrentWrite = errors.New("target changed by another writer")
	// ErrPlainHTTP: plain HTTP to a registry that is not on loopback, on a
	// Client made without WithInsecure and without that registry in
	// WithInsecureRegistries. The message names the host.
	ErrPlainHTTP = errors.New("plain HTTP refused")
	// ErrTimeout: a registry did not answer in time on any attempt (see
	// WithTimeout). The error is a *TimeoutError, which names the registry.
	ErrTimeout = errors.New("timed out")
	// ErrTooLarge: a manifest, index or config over mab's read limits
	// (MaxManifestSize, MaxConfigSize). The error is a *TooLargeError.
	ErrTooLarge = errors.New("too large")
	// ErrBadDescriptor: an index lists a child whose descriptor does not
	// describe the manifest the registry serves for it (digest, size or
	// media type), or that has no digest. The error is a *DescriptorError,
	// which names the child.
	ErrBadDescriptor = errors.New("descriptor does not match its manifest")
	// ErrInvalid: the request itself is wrong (bad reference, bad option,
	// bad platform).
	ErrInvalid = errors.New("invalid")
	// ErrDockerList: MediaTypeDocker was asked for an index that a Docker
	// manifest list cannot describe (annotations, or a child that is not a
	// Docker v2 manifest); an OCI index can. Such errors also match ErrInvalid.
	ErrDockerList = errors.New("not expressible as a Docker manifest list")
	// ErrOverrideOfIndex: a Source's Platform was set on a reference that
	// names an index, not a single image; WithPlatforms picks the platforms
	// of an index. Such errors also match ErrInvalid.
	ErrOverrideOfIndex = errors.New("platform override of an index")
)

// AuthError is a registry's refusal of the credentials it was given (none,
// when the keychain had none). It matches ErrUnauthorized, and the
// registry's own *transport.Error with errors.As. Its message names the
// registry and the status and never shows the credentials.
type AuthError struct {
	// Registry is the host (and port) that refused, as in a reference,
	// e.g. index.docker.io or registry.example.com:5000.
	Registry string
	// StatusCode is the HTTP status of the refusal, usually 401 or 403.
	StatusCode int
	// Err is the registry's response, a *transport.Error.
	Err error
}

// Error implements error.
func (e *AuthError) Error() string {
	return fmt.Sprintf("%v: registry %s refused access (%d %s)", ErrUnauthorized, e.Registry, e.StatusCode, http.StatusText(e.StatusCode))
}

// Unwrap lets errors.Is find ErrUnauthorized and errors.As the registry's error.
func (e *AuthError) Unwrap() []error { return []error{ErrUnauthorized, e.Err} }

// PlainHTTPError is a request over plain HTTP to a host the Client may not
// speak it to (see WithInsecure, WithInsecureRegistries). It matches
// ErrPlainHTTP.
type PlainHTTPError struct {
	// Host is the host (and port) of the request, e.g. 10.0.0.5:5000.
	Host string
	// Only says the registry answered an HTTPS request in plain HTTP: it
	// speaks nothing else.
	Only bool
}

// Error implements error.
func (e *PlainHTTPError) Error() string {
	if e.Only {
		return fmt.Sprintf("%v: %s answers plain HTTP only, and it is not a loopback registry, nor one allowed plain HTTP", ErrPlainHTTP, Printable(e.Host))
	}
	return fmt.Sprintf("%v to %s (not a loopback registry, nor one allowed plain HTTP)", ErrPlainHTTP, Printable(e.Host))
}

// Unwrap lets errors.Is find ErrPlainHTTP.
func (e *PlainHTTPError) Unwrap() error { return ErrPlainHTTP }

// OverrideError is a Source's Platform that contradicts the platform its
// image config declares. It matches ErrPlatformMismatch. WithForce lists the
// image under Forced anyway.
type OverrideError struct {
	// Override is the platform the Source asked for.
	Override v1.Platform
	// Config is the platform the image config declares.
	Config v1.Platform
	// Forced is what WithForce would list the image under: Override,
	// with the config's OS version and features where it has none.
	Forced v1.Platform
}

// Error implements error.
func (e *OverrideError) Error() string {
	return fmt.Sprintf("%v: override %s contradicts the image config (%s)", ErrPlatformMismatch, FormatPlatform(&e.Override), FormatPlatform(&e.Config))
}

// Unwrap lets errors.Is find ErrPlatformMismatch.
func (e *OverrideError) Unwrap() error { return ErrPlatformMismatch }

// tagged is err, with its message, that also matches each of also.
type tagged struct {
	err  error
	also []error
}

func (t tagged) Error() string   { return t.err.Error() }
func (t tagged) Unwrap() []error { return append([]error{t.err}, t.also...) }

// tag returns err, unchanged in its message, also matching each of also.
func tag(err error, also ...error) error { return tagged{err, also} }

// explain turns a registry's refusal into an *AuthError and a missing
// manifest into ErrNotFound. Other errors are returned as they are.
func explain(reg name.Registry, err error) error {
	var te *transport.Error
	if !errors.As(err, &te) {
		return err
	}
	switch {
	case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden || hasCode(te, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
		return &AuthError{Registry: reg.RegistryStr(), StatusCode: te.StatusCode, Err: te}
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
