package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/config"
	"github.com/mab-build/mab/internal/dockerapi"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	dockerclient "github.com/moby/moby/client"
)

// dockerDaemon is the Docker API of an endpoint whose BuildKit lives in
// dockerd. That BuildKit exports into the daemon's image store (exporter
// "moby"), so mab pushes each arch tag through the Docker API.
type dockerDaemon struct {
	api *dockerclient.Client
}

// dialDocker reaches the BuildKit inside a Docker daemon by hijacking its
// /grpc and /session endpoints, as buildx's docker driver does. "docker"
// means the daemon of $DOCKER_HOST (or the default socket);
// "docker+unix:///path" and "docker+tcp://host:port" name one.
func dialDocker(ctx context.Context, addr string) (*Client, error) {
	host, _ := strings.CutPrefix(addr, "docker+")
	if addr == "docker" {
		host = ""
	}
	api, err := dockerapi.New(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	bk, err := bkclient.New(ctx, "",
		bkclient.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return api.DialHijack(ctx, "/grpc", "h2c", nil)
		}),
		bkclient.WithSessionDialer(func(ctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return api.DialHijack(ctx, "/session", proto, meta)
		}),
	)
	if err != nil {
		api.Close()
		return nil, fmt.Errorf("%w: BuildKit of the Docker daemon at %s: %v", ErrUnreachable, api.DaemonHost(), err)
	}
	return &Client{addr: addr, bk: bk, docker: &dockerDaemon{api: api}}, nil
}

// push pushes ref from the daemon's image store and returns the manifest
// digest from the push's reply.
func (d *dockerDaemon) push(ctx context.Context, ref string) (string, error) {
	auth, err := registryAuth(ref)
	if err != nil {
		return "", err
	}
	resp, err := d.api.ImagePush(ctx, ref, dockerclient.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("pushing %s through the Docker daemon: %w", ref, err)
	}
	defer resp.Close()
	var digest string
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return "", fmt.Errorf("pushing %s through the Docker daemon: %w", ref, err)
		}
		if msg.Error != nil {
			return "", authError(fmt.Errorf("pushing %s through the Docker daemon: %s", ref, msg.Error.Message), ref)
		}
		if msg.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*msg.Aux, &aux) == nil && aux.Digest != "" {
				digest = aux.Digest
			}
		}
	}
	if digest == "" {
		return "", fmt.Errorf("pushing %s through the Docker daemon: the reply named no digest", ref)
	}
	return digest, nil
}

// Load makes the image at ref (pulled by digest from its registry) available
// in the Docker daemon of $DOCKER_HOST under the tags given.
func Load(ctx context.Context, ref string, tags ...string) error {
	api, err := dockerapi.New(ctx, "")
	if err != nil {
		return fmt.Errorf("loading into Docker: %w", err)
	}
	defer api.Close()
	auth, err := registryAuth(ref)
	if err != nil {
		return err
	}
	resp, err := api.ImagePull(ctx, ref, dockerclient.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("loading %s into Docker: %w", ref, err)
	}
	defer resp.Close()
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return fmt.Errorf("loading %s into Docker: %w", ref, err)
		}
		if msg.Error != nil {
			return fmt.Errorf("loading %s into Docker: %s", ref, msg.Error.Message)
		}
	}
	for _, t := range tags {
		if _, err := api.ImageTag(ctx, dockerclient.ImageTagOptions{Source: ref, Target: t}); err != nil {
			return fmt.Errorf("tagging %s as %s: %w", ref, t, err)
		}
	}
	return nil
}

// registryAuth encodes the Docker config's credentials for ref's registry
// the way the Docker API's X-Registry-Auth header wants them, with the
// Engine API's own encoder. The result goes only to the daemon, never to
// output, and no error here carries a credential.
func registryAuth(ref string) (string, error) {
	r, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", ref, err)
	}
	host := reference.Domain(r)
	if host == "docker.io" {
		host = "https://index.docker.io/v1/"
	}
	ac, err := config.LoadDefaultConfigFile(io.Discard).GetAuthConfig(host)
	if err != nil {
		return "", fmt.Errorf("reading credentials for %s: %w", host, err)
	}
	enc, err := authconfig.Encode(registry.AuthConfig{
		Username:      ac.Username,
		Password:      ac.Password,
		ServerAddress: host,
		IdentityToken: ac.IdentityToken,
		RegistryToken: ac.RegistryToken,
	})
	if err != nil {
		return "", fmt.Errorf("encoding credentials for %s", host) // the cause could quote them
	}
	return enc, nil
}
