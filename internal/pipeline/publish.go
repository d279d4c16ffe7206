package pipeline

import (
	"context"

	"github.com/mab-build/mab/merge"
)

// publish merges the pushed digests (never the arch tags, which another
// job may have moved meanwhile) into the final tag and reads it back, on
// one registry client: the target's registry is authenticated once.
func (r Runner) publish(ctx context.Context, p *Plan, outcomes []Outcome) (*merge.Published, error) {
	sources := make([]merge.Source, len(outcomes))
	for i, o := range outcomes {
		sources[i] = merge.Source{Ref: p.Final.Context().Digest(o.Digest)}
	}
	client := merge.New(append([]merge.Option{merge.WithInsecure(p.Insecure)}, r.Registry...)...)
	pub, err := client.Merge(ctx, p.Final, sources)
	if err != nil {
		return nil, err
	}
	if err := client.Verify(ctx, p.Final, pub.Digest); err != nil {
		return pub, err
	}
	return pub, nil
}

// load pulls the host's platform by digest into the Docker daemon under
// the final tag and its arch tag.
func (r Runner) load(ctx context.Context, p *Plan, i int, digest string) error {
	src := p.Final.Context().Digest(digest).String()
	return r.loadFunc()(ctx, src, p.Final.String(), p.Targets[i].Tag.String())
}
