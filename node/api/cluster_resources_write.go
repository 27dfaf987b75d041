package api

import (
	"context"
	"errors"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/consensus"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// withRequestID gives a write without a request ID a fresh one, before
// anything is forwarded: forwarding retries on another node when an
// attempt's outcome is unknown, and the ID makes that retry the same write.
func withRequestID(id *string) consensus.WriteOption {
	if *id == "" {
		*id = consensus.NewRequestID()
	}
	return consensus.WithRequestID(*id)
}

// CreateResource implements cairn.cluster.v1.ClusterResourceService.
func (c *clusterResourceService) CreateResource(ctx context.Context, req *connect.Request[clusterv1.CreateResourceRequest]) (*connect.Response[clusterv1.CreateResourceResponse], error) {
	m := req.Msg
	d, err := c.resolve(m.Type, m.Id, true)
	if err != nil {
		return nil, err
	}
	spec, err := d.Prepare([]byte(m.SpecYaml))
	if err != nil {
		return nil, clusterResourceError(err)
	}
	rid := withRequestID(&m.RequestId)
	return write(ctx, c, req, clusterv1connect.ClusterResourceServiceClient.CreateResource, func() (*clusterv1.CreateResourceResponse, error) {
		w, err := c.s.replica.Create(ctx, d.Type, m.Id, spec, rid)
		if err != nil {
			return nil, err
		}
		pb, err := resourceProto(d, w.Resource)
		return &clusterv1.CreateResourceResponse{Resource: pb, Revision: w.Revision, Duplicate: w.Duplicate}, err
	})
}

// UpdateResource implements cairn.cluster.v1.ClusterResourceService. The
// expected version is required: the store's Update is compare-and-set.
func (c *clusterResourceService) UpdateResource(ctx context.Context, req *connect.Request[clusterv1.UpdateResourceRequest]) (*connect.Response[clusterv1.UpdateResourceResponse], error) {
	m := req.Msg
	d, err := c.resolve(m.Type, m.Id, true)
	if err != nil {
		return nil, err
	}
	spec, err := d.Prepare([]byte(m.SpecYaml))
	if err != nil {
		return nil, clusterResourceError(err)
	}
	if m.ExpectedVersion == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument,
			errors.New("expected_version is required: an update is a compare-and-set on the version GetResource returns"))
	}
	rid := withRequestID(&m.RequestId)
	return write(ctx, c, req, clusterv1connect.ClusterResourceServiceClient.UpdateResource, func() (*clusterv1.UpdateResourceResponse, error) {
		w, err := c.s.replica.Update(ctx, d.Type, m.Id, spec, m.ExpectedVersion, rid)
		if err != nil {
			return nil, err
		}
		pb, err := resourceProto(d, w.Resource)
		return &clusterv1.UpdateResourceResponse{Resource: pb, Revision: w.Revision, Duplicate: w.Duplicate}, err
	})
}

// DeleteResource implements cairn.cluster.v1.ClusterResourceService.
func (c *clusterResourceService) DeleteResource(ctx context.Context, req *connect.Request[clusterv1.DeleteResourceRequest]) (*connect.Response[clusterv1.DeleteResourceResponse], error) {
	m := req.Msg
	d, err := c.resolve(m.Type, m.Id, true)
	if err != nil {
		return nil, err
	}
	if err := d.CheckWritable(); err != nil {
		return nil, clusterResourceError(err)
	}
	rid := withRequestID(&m.RequestId)
	return write(ctx, c, req, clusterv1connect.ClusterResourceServiceClient.DeleteResource, func() (*clusterv1.DeleteResourceResponse, error) {
		w, err := c.s.replica.Delete(ctx, d.Type, m.Id, m.ExpectedVersion, rid)
		if err != nil {
			return nil, err
		}
		pb, err := resourceProto(d, w.Resource)
		return &clusterv1.DeleteResourceResponse{Resource: pb, Revision: w.Revision, Duplicate: w.Duplicate}, err
	})
}
