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

// ErrUnreachable is wrapped by every error that means the builder could not
// be reached at all, as opposed to a build that failed.
var ErrUnreachable = errors.New("builder unreachable")

// Client is a connection to one BuildKit endpoint.
type Client struct {
	addr string
	bk   *bkclient.Client
}

// Dial connects to the BuildKit endpoint at addr (unix:// or tcp://). The
// connection is made lazily; Platforms is the first call that proves it.
func Dial(ctx context.Context, addr string) (*Client, error) {
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w: no BuildKit socket at %s: start buildkitd (or `make e2e-up` in mab's checkout), or pass --builder / set BUILDKIT_HOST", ErrUnreachable, addr)
		}
	}
	bk, err := bkclient.New(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("%w: dialling BuildKit at %s: %v", ErrUnreachable, addr, err)
	}
	return &Client{addr: addr, bk: bk}, nil
}

// Address returns the endpoint this client talks to.
func (c *Client) Address() string { return c.addr }

// Close releases the connection.
func (c *Client) Close() error { return c.bk.Close() }

// Platforms returns the platforms that the endpoint's workers can run,
// natively or through emulation, in the order the workers report them. It
// uses ListWorkers, which every BuildKit answers (Info is not implemented by
// the BuildKit inside older Docker daemons).
func (c *Client) Platforms(ctx context.Context) ([]ocispec.Platform, error) {
	workers, err := c.bk.ListWorkers(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: listing workers of BuildKit at %s: %v; start buildkitd, or pass --builder / set BUILDKIT_HOST", ErrUnreachable, c.addr, firstLine(err))
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

// firstLine keeps an error message to one line: gRPC errors carry stacks.
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
