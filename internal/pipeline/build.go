package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mab-build/mab/builder"
)

// build runs every node's share of the targets concurrently, writing each
// outcome at its target's index, so the summary keeps the order of
// --platform. The error is one that stopped a node as a whole (its session
// could not start); a failed platform is only in its outcome.
func build(ctx context.Context, p *Plan, nodes []*node, progress builder.Progress, out []Outcome) error {
	var limit chan struct{}
	if p.Parallel > 0 {
		limit = make(chan struct{}, p.Parallel)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for ni, n := range nodes {
		req := p.Build
		req.Limit = limit
		req.Targets = nil
		for _, i := range n.targets {
			req.Targets = append(req.Targets, builderTarget(p.Targets[i]))
		}
		wg.Go(func() {
			results, err := n.client.Build(ctx, req, progress)
			if err == nil && len(results) != len(n.targets) {
				err = fmt.Errorf("returned %d results for %d platforms", len(results), len(n.targets))
			}
			if err != nil {
				errs[ni] = fmt.Errorf("builder %s: %w", n.client.Address(), err)
				for _, i := range n.targets {
					out[i] = outcomeOn(builder.Result{Target: builderTarget(p.Targets[i]), Err: err}, n.client.Address(), n.have)
				}
				return
			}
			for k, i := range n.targets {
				out[i] = outcomeOn(results[k], n.client.Address(), n.have)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// builderTarget is what the builder needs of a target: its platform and
// the reference its image is pushed to.
func builderTarget(t Target) builder.Target {
	return builder.Target{Platform: t.Platform, Name: t.Tag.String(), Annotations: t.Annotations}
}
