// Package dockerapi makes the one Docker Engine API client that mab's
// packages use: the emulation package's container installer and the
// builder package's Docker endpoint (its BuildKit, its push and --load's
// pull) all reach the daemon through New, so the daemon's address, TLS from
// the environment and API version negotiation mean the same everywhere.
//
// It owns only the connection: what is done with the client is the
// caller's.
package dockerapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/moby/moby/client"
)

// ErrUnreachable is wrapped by New's error when the daemon does not answer
// its ping.
var ErrUnreachable = errors.New("cannot reach the Docker daemon")

// ErrUnsupportedHost is wrapped by New's error when the daemon's address
// has a scheme other than unix:// or tcp://.
var ErrUnsupportedHost = errors.New("unsupported Docker host")

// pingTimeout bounds the ping that negotiates the API version.
const pingTimeout = 10 * time.Second

// New connects to the Docker daemon at host and negotiates the API version
// with a ping (at most 10 seconds), so that every later call speaks a
// version the daemon knows (Engine API 1.40 and newer). An empty host means
// $DOCKER_HOST, then client.DefaultDockerHost. TLS is used as the Docker CLI
// uses it: with $DOCKER_CERT_PATH's ca.pem, cert.pem and key.pem, or the
// Docker config folder's (~/.docker, or --config's) when $DOCKER_TLS_VERIFY
// is set without $DOCKER_CERT_PATH.
//
// The caller closes the client.
func New(ctx context.Context, host string) (*client.Client, error) {
	if host == "" {
		host = os.Getenv(client.EnvOverrideHost)
	}
	if host == "" {
		host = client.DefaultDockerHost
	}
	if scheme, _, _ := strings.Cut(host, "://"); scheme != "unix" && scheme != "tcp" {
		return nil, fmt.Errorf("%w %q: only unix:// or tcp:// daemons are supported", ErrUnsupportedHost, host)
	}
	opts := []client.Opt{client.FromEnv, client.WithHost(host)}
	if os.Getenv(client.EnvTLSVerify) != "" && os.Getenv(client.EnvOverrideCertPath) == "" {
		dir := config.Dir() // --config's, $DOCKER_CONFIG or ~/.docker, as for the docker CLI
		opts = append(opts, client.WithTLSClientConfig(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")))
	}
	api, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", host, err)
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := api.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		api.Close()
		return nil, fmt.Errorf("%w at %s: %w; start dockerd or set DOCKER_HOST", ErrUnreachable, host, reason(err))
	}
	return api, nil
}

// reason is the network error under the client's wording, which repeats
// the host, or the daemon's answer to the ping without the client's
// "Error response from daemon: " prefix, on one line. The client's error
// stays in the chain for errors.Is and errors.As.
func reason(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op
	}
	msg := strings.TrimPrefix(err.Error(), "Error response from daemon: ")
	msg, _, _ = strings.Cut(msg, "\n")
	return shortError{msg, err}
}

// shortError prints msg and unwraps to err.
type shortError struct {
	msg string
	err error
}

func (e shortError) Error() string { return e.msg }
func (e shortError) Unwrap() error { return e.err }
