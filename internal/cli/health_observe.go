package cli

import (
	"context"

	"connectrpc.com/connect"

	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// clientSource is a health.Source through the endpoint, for nodes that
// predate the Health RPC: each node's own views are asked for with the
// Cairn-Node header, as cairnctl --nodes does.
type clientSource struct{ c *apiClient }

func (s clientSource) Config(ctx context.Context) (*clusterv1.GetConfigResponse, error) {
	return getConfig(ctx, s.c, "", &clusterv1.GetConfigRequest{})
}

func (s clientSource) Members(ctx context.Context, node string, stale bool) (*clusterv1.MembersResponse, error) {
	r := fetchMembers(ctx, s.c, nodeList(node), stale)[0]
	return r.val, r.err
}

func (s clientSource) ConsensusStatus(ctx context.Context, node string) (*clusterv1.ConsensusStatusResponse, error) {
	r := fetchConsensus(ctx, s.c, nodeList(node))[0]
	return r.val, r.err
}

// NodeStatus reads one of a node's status resources (its spec as YAML)
// through the endpoint (Cairn-Node header); nil when it has none.
func (s clientSource) NodeStatus(ctx context.Context, node, typ, id string) ([]byte, error) {
	r := fanOut(ctx, s.c, nodeList(node), func(ctx context.Context, ep endpoint, node string) ([]byte, error) {
		res, err := ep.resource.Get(ctx, request(&resourcev1.GetRequest{Type: typ, Id: id}, node))
		if connect.CodeOf(err) == connect.CodeNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []byte(res.Msg.GetResource().GetSpecYaml()), nil
	})[0]
	return r.val, r.err
}

// nodeList is the fan-out list for one node, or none for the endpoint.
func nodeList(node string) []string {
	if node == "" {
		return nil
	}
	return []string{node}
}
