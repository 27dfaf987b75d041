package api

import (
	"context"
	"errors"
	"net/http"

	"connectrpc.com/connect"

	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/cluster/health"
	"github.com/cairn-project/cairn/node/runtime"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
)

// Health implements cairn.cluster.v1.ClusterService: a control plane
// evaluates it (any of them, so that "no leader" is an answer too); a
// worker forwards it to one, the leader first.
func (c *clusterService) Health(ctx context.Context, req *connect.Request[clusterv1.HealthRequest]) (*connect.Response[clusterv1.HealthResponse], error) {
	s := c.s
	if !s.opts.ControlPlane {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.Health)
	}
	checks := health.Evaluate(health.Observe(ctx, apiSource{c}, health.DefaultRequestTimeout))
	return connect.NewResponse(health.Response(s.opts.NodeName, checks)), nil
}

// apiSource gathers a health observation through this node's own API, as
// a Cairn-Node call to it would: this node's handlers for itself, and for
// another node the peer clients that forwarding uses, which is what the
// Cairn-Node proxy would reach. Calls made for a caller carry its
// certificate, so every node checks the caller's role, not this node's.
type apiSource struct{ c *clusterService }

func (a apiSource) Config(ctx context.Context) (*clusterv1.GetConfigResponse, error) {
	return msg(a.c.GetConfig(ctx, connect.NewRequest(&clusterv1.GetConfigRequest{})))
}

func (a apiSource) Members(ctx context.Context, node string, stale bool) (*clusterv1.MembersResponse, error) {
	req := connect.NewRequest(&clusterv1.MembersRequest{Stale: stale})
	if a.local(node) {
		return msg(a.c.Members(ctx, req))
	}
	cl, err := a.peer(ctx, node, req.Header())
	if err != nil {
		return nil, err
	}
	return msg(cl.Members(ctx, req))
}

func (a apiSource) ConsensusStatus(ctx context.Context, node string) (*clusterv1.ConsensusStatusResponse, error) {
	req := connect.NewRequest(&clusterv1.ConsensusStatusRequest{})
	if a.local(node) {
		return msg(a.c.ConsensusStatus(ctx, req))
	}
	cl, err := a.peer(ctx, node, req.Header())
	if err != nil {
		return nil, err
	}
	return msg(cl.ConsensusStatus(ctx, req))
}

// NodeStatus reads one of a node's status resources (its spec as YAML):
// this node's from its state, another's through its resource service
// (with the caller's certificate, as for the other requests); nil when
// the node has none.
func (a apiSource) NodeStatus(ctx context.Context, node, typ, id string) ([]byte, error) {
	s := a.c.s
	if a.local(node) {
		if s.opts.Resources == nil {
			return nil, nil
		}
		res, err := s.opts.Resources.Get(typ, id)
		if errors.Is(err, runtime.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return yaml.Marshal(res.Spec)
	}
	addr, err := s.memberAPI(node)
	if err != nil {
		return nil, connectError(err)
	}
	req := connect.NewRequest(&resourcev1.GetRequest{Type: typ, Id: id})
	if cert := callerFrom(ctx).header(); cert != "" {
		req.Header().Set(HeaderCallerCert, cert)
	}
	rc := resourcev1connect.NewResourceServiceClient(&http.Client{Transport: s.peers}, "https://"+addr, connect.WithGRPC())
	res, err := rc.Get(ctx, req)
	if connect.CodeOf(err) == connect.CodeNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []byte(res.Msg.GetResource().GetSpecYaml()), nil
}

func (a apiSource) local(node string) bool { return node == "" || node == a.c.s.opts.NodeName }

// peer returns node's cluster client and sets the caller's certificate
// on the request headers h, as proxyToNode does.
func (a apiSource) peer(ctx context.Context, node string, h http.Header) (clusterv1connect.ClusterServiceClient, error) {
	cl, err := a.c.s.clusterClient(node)
	if err != nil {
		return nil, connectError(err)
	}
	if cert := callerFrom(ctx).header(); cert != "" {
		h.Set(HeaderCallerCert, cert)
	}
	return cl, nil
}

func msg[T any](res *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}
