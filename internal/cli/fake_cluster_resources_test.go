package cli

import (
	"context"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/cluster/resources"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// fakeClusterResources serves the fake node's cluster config as the one
// ClusterConfig resource of a ClusterResourceService, with the real
// built-in definitions. The fake config holds no secrets, so it is served
// as it is (the node renders it redacted).
type fakeClusterResources struct {
	clusterv1connect.UnimplementedClusterResourceServiceHandler
	f    *fakeNode
	defs *resources.Registry
}

func newFakeClusterResources(f *fakeNode) *fakeClusterResources {
	return &fakeClusterResources{f: f, defs: resources.Default()}
}

func (c *fakeClusterResources) ListResourceDefinitions(context.Context, *connect.Request[clusterv1.ListResourceDefinitionsRequest]) (*connect.Response[clusterv1.ListResourceDefinitionsResponse], error) {
	out := &clusterv1.ListResourceDefinitionsResponse{}
	for _, d := range c.defs.Definitions() {
		out.Definitions = append(out.Definitions, &clusterv1.ClusterResourceDefinition{
			Type: d.Type, Aliases: d.Aliases, Description: d.Description, Writable: d.Writable,
		})
	}
	return connect.NewResponse(out), nil
}

// config returns the one resource of the type typ names.
func (c *fakeClusterResources) config(typ string) (*clusterv1.Resource, error) {
	d, err := c.defs.Resolve(typ)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if !strings.EqualFold(d.Type, "ClusterConfig") {
		return nil, nil
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return &clusterv1.Resource{Type: d.Type, Id: "cluster", Version: c.f.revision, SpecYaml: c.f.config,
		CreateRevision: 1, UpdateRevision: c.f.revision}, nil
}

func (c *fakeClusterResources) GetResource(_ context.Context, req *connect.Request[clusterv1.GetResourceRequest]) (*connect.Response[clusterv1.GetResourceResponse], error) {
	c.f.record(req.Header())
	r, err := c.config(req.Msg.GetType())
	if err != nil {
		return nil, err
	}
	if r == nil || r.Id != req.Msg.GetId() {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("%s/%s: resource not found", req.Msg.GetType(), req.Msg.GetId()))
	}
	return connect.NewResponse(&clusterv1.GetResourceResponse{Resource: r, Revision: r.UpdateRevision}), nil
}

func (c *fakeClusterResources) ListResources(_ context.Context, req *connect.Request[clusterv1.ListResourcesRequest]) (*connect.Response[clusterv1.ListResourcesResponse], error) {
	c.f.record(req.Header())
	r, err := c.config(req.Msg.GetType())
	if err != nil {
		return nil, err
	}
	out := &clusterv1.ListResourcesResponse{}
	if r != nil {
		out.Resources, out.Revision = []*clusterv1.Resource{r}, r.UpdateRevision
	}
	return connect.NewResponse(out), nil
}
