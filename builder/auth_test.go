package builder

import (
	"errors"
	"testing"
)

// TestAuthErrorKnowsEveryRefusal: a registry's refusal, as BuildKit's
// push reports it and as a Docker daemon's push does ("no basic auth
// credentials" when the daemon had none), is an *AuthError naming the
// registry, so that the command line can say how to log in.
func TestAuthErrorKnowsEveryRefusal(t *testing.T) {
	for _, msg := range []string{
		"failed to push reg.example.com/app:1-amd64: unexpected status from HEAD request: 401 Unauthorized",
		"failed to push: 403 Forbidden",
		"pushing reg.example.com/app:1-amd64 through the Docker daemon: no basic auth credentials",
		"pushing reg.example.com/app:1-amd64 through the Docker daemon: unauthorized: authentication required",
		"denied: requested access to the resource is denied",
	} {
		var auth *AuthError
		if err := authError(errors.New(msg), "reg.example.com/app:1-amd64"); !errors.As(err, &auth) || auth.Registry != "reg.example.com" {
			t.Errorf("%q: err = %v, want an *AuthError for reg.example.com", msg, err)
		}
	}
	if err := authError(errors.New("pushing: connection refused"), "reg.example.com/app:1"); errors.As(err, new(*AuthError)) {
		t.Errorf("a refused connection became an *AuthError: %v", err)
	}
}
