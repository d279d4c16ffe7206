package merge

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Fetch returns what ref holds, for reading it whole: its manifest as
// served and, through the descriptor's Image or ImageIndex, its children,
// configs and layers, all read over the Client's transport (its
// registry authenticated once, plain HTTP by its rules) under ctx. It
// needs pull access.
func (c *Client) Fetch(ctx context.Context, ref name.Reference) (*remote.Descriptor, error) {
	s, err := c.session(ctx, c.o, nil, []name.Repository{ref.Context()})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	desc, err := remote.Get(ref, s.copying(ctx, ref)...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, explain(ref.Context().Registry, err))
	}
	return desc, nil
}
