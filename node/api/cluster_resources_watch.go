package api

import (
	"context"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/resources"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// WatchResources implements cairn.cluster.v1.ClusterResourceService from
// this control plane's replica (every replica serves watches, as
// WatchConfig does); a worker relays one from a control plane.
func (c *clusterResourceService) WatchResources(ctx context.Context, req *connect.Request[clusterv1.WatchResourcesRequest], stream *connect.ServerStream[clusterv1.WatchResourcesResponse]) error {
	m := req.Msg
	d, err := c.resolve(m.Type, "", false)
	if err != nil {
		return err
	}
	if !c.s.opts.ControlPlane {
		return proxyWatch(ctx, c.s, req, stream, func(ctx context.Context, name string, out *connect.Request[clusterv1.WatchResourcesRequest]) (*connect.ServerStreamForClient[clusterv1.WatchResourcesResponse], error) {
			cl, err := c.dial(name)
			if err != nil {
				return nil, err
			}
			return cl.WatchResources(ctx, out)
		})
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the store's watch when a Send fails
	from := m.FromRevision
	if from == 0 {
		// The existing resources at revision rev, then every change after
		// it: no change is missed or sent twice.
		list, rev, err := c.s.replica.List(ctx, d.Type, consensus.Stale)
		if err != nil {
			return clusterResourceError(err)
		}
		for _, r := range list {
			if err := c.send(stream, d, m.Id, consensus.Event{Revision: rev, Kind: consensus.EventCreated, Resource: r}); err != nil {
				return err
			}
		}
		from = rev + 1
	}
	w, err := c.s.replica.Watch(ctx, d.Type, from)
	if err != nil {
		return clusterResourceError(err)
	}
	if err := stream.Send(nil); err != nil { // the headers: the watch is established
		return err
	}
	for ev := range w.Events() {
		if err := c.send(stream, d, m.Id, ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return clusterResourceError(w.Err())
}

// send sends ev unless the watch is for another resource.
func (c *clusterResourceService) send(stream *connect.ServerStream[clusterv1.WatchResourcesResponse], d resources.Definition, id string, ev consensus.Event) error {
	if id != "" && ev.Resource.ID != id {
		return nil
	}
	pb, err := resourceProto(d, ev.Resource)
	if err != nil {
		return clusterResourceError(err)
	}
	return stream.Send(&clusterv1.WatchResourcesResponse{Event: eventProto(ev.Kind), Resource: pb, Revision: ev.Revision})
}

func eventProto(k consensus.EventKind) clusterv1.ResourceEventType {
	switch k {
	case consensus.EventCreated:
		return clusterv1.ResourceEventType_RESOURCE_EVENT_TYPE_CREATED
	case consensus.EventUpdated:
		return clusterv1.ResourceEventType_RESOURCE_EVENT_TYPE_UPDATED
	case consensus.EventDeleted:
		return clusterv1.ResourceEventType_RESOURCE_EVENT_TYPE_DELETED
	}
	return clusterv1.ResourceEventType_RESOURCE_EVENT_TYPE_UNSPECIFIED
}
