package cli

import (
	"context"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/cluster/health"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// fetchHealth runs one health round: the endpoint's Health RPC, which a
// control plane evaluates (node/cluster/health). A node too old to serve it
// (unimplemented) is checked from here instead, through the public RPCs
// the node itself uses and with the same evaluation. When no endpoint
// answers, every check fails naming why, so that waiting shows progress
// while the nodes start.
func fetchHealth(ctx context.Context, c *apiClient) *clusterv1.HealthResponse {
	var res *clusterv1.HealthResponse
	err := c.call(ctx, func(ctx context.Context, ep endpoint) error {
		r, err := ep.cluster.Health(ctx, request(&clusterv1.HealthRequest{}, ""))
		if err == nil {
			res = r.Msg
		}
		return err
	})
	switch {
	case err == nil:
		return res
	case connect.CodeOf(err) == connect.CodeUnimplemented:
		return health.Response("", health.Evaluate(health.Observe(ctx, clientSource{c}, c.timeout)))
	}
	return health.Response("", health.Evaluate(health.Unobserved(err)))
}

// Short describes the error in a few words for a health check line: only
// the last endpoint's reason.
func (e *endpointsError) Short() string {
	if len(e.errs) == 0 {
		return e.Error()
	}
	return "no endpoint answered (" + health.ShortError(e.errs[len(e.errs)-1]) + ")"
}
