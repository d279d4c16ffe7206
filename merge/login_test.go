package merge

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// basicAuth demands user:password of every request, as an htpasswd
// registry does.
func basicAuth(user, password string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

type oneCred struct{ authn.Authenticator }

func (k oneCred) Resolve(authn.Resource) (authn.Authenticator, error) { return k.Authenticator, nil }

func TestCheckLoginAsksTheRegistry(t *testing.T) {
	host := wrappedRegistry(t, basicAuth("alice", "s3cret"))
	reg, err := name.NewRegistry(host)
	if err != nil {
		t.Fatal(err)
	}
	good := New(fast, WithKeychain(oneCred{&authn.Basic{Username: "alice", Password: "s3cret"}}))
	if err := good.CheckLogin(context.Background(), reg); err != nil {
		t.Fatalf("right password refused: %v", err)
	}
	// Basic auth is not checked by the ping: a wrong password must still fail.
	bad := New(fast, WithKeychain(oneCred{&authn.Basic{Username: "alice", Password: "wrong-one"}}))
	err = bad.CheckLogin(context.Background(), reg)
	var auth *AuthError
	if !errors.As(err, &auth) || !errors.Is(err, ErrUnauthorized) || auth.Registry != host {
		t.Fatalf("wrong password: err = %v, want an *AuthError for %s", err, host)
	}
	if strings.Contains(err.Error(), "wrong-one") {
		t.Errorf("the error shows the password: %v", err)
	}
	if err := New(fast).CheckLogin(context.Background(), reg); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("no credentials: err = %v", err)
	}
}
