package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	bkclient "github.com/moby/buildkit/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultAddress is the socket of a buildkitd started with its defaults.
const DefaultAddress = "unix:///run/buildkit/buildkitd.sock"

// Errors a caller may branch on with errors.Is.
var (
	// ErrUnreachable is wrapped by every error that means the builder could
	// not be reached at all, as opposed to a build that failed.
	ErrUnreachable = errors.New("builder unreachable")
	// ErrTLS: TLS options that cannot work (a certificate without its key,
	// TLS for an endpoint that is not tcp://).
	ErrTLS = errors.New("invalid TLS options")
)

// AuthError is a registry's refusal of the credentials a solve pushed or
// pulled with (BuildKit reads them from the Docker config through the
// session).
type AuthError struct {
	// Registry is the host that refused, as `docker login` takes it.
	Registry string
	Err      error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("registry %s refused the credentials: %v", e.Registry, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// TLS holds the client certificates for a tcp:// endpoint. Empty fields
// are not used; CACert alone verifies the server without a client cert;
// Key alone is refused.
type TLS struct {
	ServerName string
	CACert     string
	Cert       string
	Key        string
}

// IsZero reports whether t sets no option: the endpoint is dialled
// without TLS.
func (t TLS) IsZero() bool { return t == TLS{} }

// check refuses options that cannot work: TLS for an endpoint that is not
// tcp://, or a client certificate without its key.
func (t TLS) check(addr string) error {
	if t.IsZero() {
		return nil
	}
	if !strings.HasPrefix(addr, "tcp://") {
		return fmt.Errorf("%w: TLS needs a tcp:// builder, not %s", ErrTLS, addr)
	}
	if (t.Cert == "") != (t.Key == "") {
		return fmt.Errorf("%w: a client certificate and its key go together", ErrTLS)
	}
	return nil
}

// Client is a connection to one BuildKit endpoint.
type Client struct {
	addr   string
	bk     *bkclient.Client
	docker *dockerDaemon // non-nil when the endpoint is a Docker daemon
}

// Dial connects to the BuildKit endpoint at addr:
//
//	unix:///run/buildkit/buildkitd.sock   a buildkitd socket
//	tcp://host:1234                        a buildkitd on the network (with tls)
//	ssh://user@host                        a buildkitd socket reached over ssh
//	docker-container://NAME                buildkitd in a Docker container
//	kube-pod://NAME?namespace=NS           buildkitd in a Kubernetes pod
//	docker                                 the BuildKit inside the Docker daemon of $DOCKER_HOST
//	docker+unix:///var/run/docker.sock     the BuildKit inside that Docker daemon
//
// The connection is made lazily; Platforms is the first call that proves it.
func Dial(ctx context.Context, addr string, tls TLS) (*Client, error) {
	if err := CheckAddress(addr); err != nil {
		return nil, err
	}
	if IsBuildx(addr) {
		return nil, fmt.Errorf("%w %q: a buildx builder has several nodes: dial one of them (ReadBuildx lists them)", ErrAddress, addr)
	}
	if err := tls.check(addr); err != nil {
		return nil, err
	}
	if addr == "docker" || strings.HasPrefix(addr, "docker+") {
		return dialDocker(ctx, addr)
	}
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w: %w at %s", ErrUnreachable, errNoSocket, addr)
		}
	}
	var opts []bkclient.ClientOpt
	if !tls.IsZero() {
		opts = append(opts, bkclient.WithServerConfig(tls.ServerName, tls.CACert))
		if tls.Cert != "" {
			opts = append(opts, bkclient.WithCredentials(tls.Cert, tls.Key))
		}
	}
	bk, err := bkclient.New(ctx, addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: dialling BuildKit at %s: %v", ErrUnreachable, addr, firstLine(err))
	}
	return &Client{addr: addr, bk: bk}, nil
}

// Address returns the endpoint this client talks to.
func (c *Client) Address() string { return c.addr }

// IsDocker reports whether the endpoint is a Docker daemon's BuildKit,
// whose images land in the daemon and are pushed through the Docker API.
func (c *Client) IsDocker() bool { return c.docker != nil }

// Close releases the connection.
func (c *Client) Close() error {
	err := c.bk.Close()
	if c.docker != nil {
		err = errors.Join(err, c.docker.api.Close())
	}
	return err
}

// Platforms returns the platforms that the endpoint's workers can run,
// natively or through emulation, in the order the workers report them (the
// native ones first). It uses ListWorkers, which every BuildKit answers
// (Info is not implemented by the BuildKit inside older Docker daemons),
// and which re-reads the emulators on each call.
func (c *Client) Platforms(ctx context.Context) ([]ocispec.Platform, error) {
	workers, err := c.bk.ListWorkers(ctx)
	if err != nil {
		if cmd, why, ok := helperFailure(err); ok {
			return nil, fmt.Errorf("%w: BuildKit at %s: `%s` failed: %s", ErrUnreachable, c.addr, cmd, why)
		}
		return nil, fmt.Errorf("%w: listing workers of BuildKit at %s: %v", ErrUnreachable, c.addr, firstLine(err))
	}
	var out []ocispec.Platform
	for _, w := range workers {
		out = append(out, w.Platforms...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("BuildKit at %s has no worker", c.addr)
	}
	return out, nil
}

// helperFailure recognises the error of a connection helper (ssh://,
// docker-container://, kube-pod://) whose command failed, and returns the
// command and the last line it printed, which says why.
func helperFailure(err error) (cmd, why string, ok bool) {
	msg := err.Error()
	i := strings.Index(msg, "command [")
	j := strings.Index(msg, "stderr=")
	if i < 0 || j < 0 {
		return "", "", false
	}
	cmd, _, _ = strings.Cut(msg[i+len("command ["):], "]")
	out := strings.NewReplacer(`\n`, "\n", `\r`, "").Replace(msg[j+len("stderr="):])
	for _, line := range strings.Split(out, "\n") {
		if line = strings.Trim(strings.TrimSpace(line), `"`); line != "" {
			why = line
		}
	}
	return cmd, why, why != ""
}

// firstLine keeps an error message to one line: gRPC errors carry stacks.
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
