package merge

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// CheckLogin asks reg whether it accepts the credentials that the Client's
// keychain holds for it, as `docker login` does before it saves them: the
// registry is pinged, a token is fetched when it wants one, and
// GET /v2/ must answer 200. A refusal is an *AuthError; nothing is
// written anywhere.
func (c *Client) CheckLogin(ctx context.Context, reg name.Registry) error {
	rt, err := c.transport(ctx, reg, nil)
	if err != nil {
		return fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), err)
	}
	url := fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), err)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return fmt.Errorf("logging in to %s: %w", reg.RegistryStr(), explain(reg, err))
	}
	return nil
}
