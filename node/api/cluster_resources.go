package api

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/resources"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// ResourceStore is what the cluster resource API needs of a control
// plane's replica beyond the config's store (Get, Create, Update) and
// Watch: listing and deleting any type. consensus.Store implements it.
type ResourceStore interface {
	List(ctx context.Context, typ string, mode consensus.ReadMode) ([]consensus.Resource, uint64, error)
	Delete(ctx context.Context, typ, id string, expectedVersion uint64, opts ...consensus.WriteOption) (consensus.WriteResult, error)
}

// clusterResourceService serves cairn.cluster.v1.ClusterResourceService:
// every registered cluster-plane type through one set of RPCs. It routes
// like ClusterService: stale reads from a control plane's replica,
// linearizable reads and writes on the leader (forwarded there), and
// everything forwarded by a worker.
type clusterResourceService struct {
	s    *Server
	defs *resources.Registry

	mu      sync.Mutex
	clients map[string]clusterv1connect.ClusterResourceServiceClient // by API address
}

// newClusterResourceHandler returns the route and handler of the service
// over defs (nil: the built-in types).
func newClusterResourceHandler(s *Server, defs *resources.Registry, opts ...connect.HandlerOption) (string, http.Handler) {
	if defs == nil {
		defs = resources.Default()
	}
	svc := &clusterResourceService{s: s, defs: defs, clients: map[string]clusterv1connect.ClusterResourceServiceClient{}}
	return clusterv1connect.NewClusterResourceServiceHandler(svc, opts...)
}

// dial returns a client of name's cluster resource service.
func (c *clusterResourceService) dial(name string) (clusterv1connect.ClusterResourceServiceClient, error) {
	addr, err := c.s.memberAPI(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.clients[addr]
	if !ok {
		cl = clusterv1connect.NewClusterResourceServiceClient(&http.Client{Transport: c.s.peers}, "https://"+addr, connect.WithGRPC())
		c.clients[addr] = cl
	}
	return cl, nil
}

// resolve finds the definition a request's type names.
func (c *clusterResourceService) resolve(typ, id string, needID bool) (resources.Definition, error) {
	if typ == "" {
		return resources.Definition{}, connect.NewError(connect.CodeInvalidArgument, errors.New("type is required"))
	}
	if needID && id == "" {
		return resources.Definition{}, connect.NewError(connect.CodeInvalidArgument, errors.New("id is required"))
	}
	d, err := c.defs.Resolve(typ)
	if err != nil {
		return resources.Definition{}, clusterResourceError(err)
	}
	return d, nil
}

type resourceCall[Req, Res any] func(clusterv1connect.ClusterResourceServiceClient, context.Context, *connect.Request[Req]) (*connect.Response[Res], error)

// read answers a read here when this node can (a control plane: any for
// a stale read, the leader for a linearizable one) and forwards it
// otherwise, or when this leader was deposed while reading.
func read[Req, Res any](ctx context.Context, c *clusterResourceService, req *connect.Request[Req], stale bool, call resourceCall[Req, Res], local func() (*Res, error)) (*connect.Response[Res], error) {
	s := c.s
	if !s.opts.ControlPlane || (!stale && !s.isLeader()) {
		return forwardVia(ctx, s, req, c.dial, call)
	}
	res, err := local()
	if lostLeadership(err) && !stale && req.Header().Get(HeaderForwarded) == "" {
		return forwardVia(ctx, s, req, c.dial, call)
	}
	if err != nil {
		return nil, clusterResourceError(err)
	}
	return connect.NewResponse(res), nil
}

// write runs a write on the leader, forwarding it there from any other
// node. The request carries a request ID by now, so a forwarded retry
// after an unknown outcome is the same write (consensus de-duplicates it).
func write[Req, Res any](ctx context.Context, c *clusterResourceService, req *connect.Request[Req], call resourceCall[Req, Res], local func() (*Res, error)) (*connect.Response[Res], error) {
	s := c.s
	if !s.isLeader() {
		return forwardVia(ctx, s, req, c.dial, call)
	}
	res, err := local()
	if lostLeadership(err) && req.Header().Get(HeaderForwarded) == "" {
		return forwardVia(ctx, s, req, c.dial, call)
	}
	if err != nil {
		return nil, clusterResourceError(err)
	}
	return connect.NewResponse(res), nil
}

// GetResource implements cairn.cluster.v1.ClusterResourceService.
func (c *clusterResourceService) GetResource(ctx context.Context, req *connect.Request[clusterv1.GetResourceRequest]) (*connect.Response[clusterv1.GetResourceResponse], error) {
	m := req.Msg
	d, err := c.resolve(m.Type, m.Id, true)
	if err != nil {
		return nil, err
	}
	return read(ctx, c, req, m.Stale, clusterv1connect.ClusterResourceServiceClient.GetResource, func() (*clusterv1.GetResourceResponse, error) {
		r, rev, err := c.s.replica.Get(ctx, d.Type, m.Id, mode(m.Stale))
		if err != nil {
			return nil, err
		}
		pb, err := resourceProto(d, r)
		return &clusterv1.GetResourceResponse{Resource: pb, Revision: rev}, err
	})
}

// ListResources implements cairn.cluster.v1.ClusterResourceService.
func (c *clusterResourceService) ListResources(ctx context.Context, req *connect.Request[clusterv1.ListResourcesRequest]) (*connect.Response[clusterv1.ListResourcesResponse], error) {
	m := req.Msg
	d, err := c.resolve(m.Type, "", false)
	if err != nil {
		return nil, err
	}
	return read(ctx, c, req, m.Stale, clusterv1connect.ClusterResourceServiceClient.ListResources, func() (*clusterv1.ListResourcesResponse, error) {
		list, rev, err := c.s.replica.List(ctx, d.Type, mode(m.Stale))
		if err != nil {
			return nil, err
		}
		out := &clusterv1.ListResourcesResponse{Revision: rev, Resources: make([]*clusterv1.Resource, 0, len(list))}
		for _, r := range list {
			pb, err := resourceProto(d, r)
			if err != nil {
				return nil, err
			}
			out.Resources = append(out.Resources, pb)
		}
		return out, nil
	})
}

// ListResourceDefinitions implements cairn.cluster.v1.ClusterResourceService
// from this node's own registry.
func (c *clusterResourceService) ListResourceDefinitions(context.Context, *connect.Request[clusterv1.ListResourceDefinitionsRequest]) (*connect.Response[clusterv1.ListResourceDefinitionsResponse], error) {
	out := &clusterv1.ListResourceDefinitionsResponse{}
	for _, d := range c.defs.Definitions() {
		out.Definitions = append(out.Definitions, &clusterv1.ClusterResourceDefinition{
			Type: d.Type, Aliases: d.Aliases, Description: d.Description, Writable: d.Writable,
		})
	}
	return connect.NewResponse(out), nil
}
