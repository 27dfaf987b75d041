package api

import (
	"context"
	"errors"
	"fmt"

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
		return c.proxyWatch(ctx, req, stream)
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

// proxyWatch relays a watch from a control plane, as WatchConfig's relay
// does: the known leader first, then any other alive control plane; one
// that fails before its first message is passed over, and once relaying,
// an upstream failure ends the watch (the watcher resumes from its last
// revision).
func (c *clusterResourceService) proxyWatch(ctx context.Context, req *connect.Request[clusterv1.WatchResourcesRequest], stream *connect.ServerStream[clusterv1.WatchResourcesResponse]) error {
	var errs []error
	tried := map[string]bool{c.s.opts.NodeName: true}
	for _, name := range c.s.leaderCandidates() {
		if tried[name] {
			continue
		}
		tried[name] = true
		err := c.relayWatch(ctx, name, req, stream)
		if !errors.Is(err, errNoFirstMessage) {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w: no control plane serves the watch: %w", ErrNoLeader, errors.Join(errs...)))
}

// relayWatch relays one upstream watch from name.
func (c *clusterResourceService) relayWatch(ctx context.Context, name string, req *connect.Request[clusterv1.WatchResourcesRequest], stream *connect.ServerStream[clusterv1.WatchResourcesResponse]) error {
	cl, err := c.dial(name)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoFirstMessage, err)
	}
	out := connect.NewRequest(req.Msg)
	out.Header().Set(HeaderCallerCert, callerFrom(ctx).header())
	up, err := cl.WatchResources(ctx, out)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoFirstMessage, err)
	}
	defer up.Close()
	relayed := false
	for up.Receive() {
		relayed = true
		if err := stream.Send(up.Msg()); err != nil {
			return err
		}
	}
	err = up.Err()
	if err != nil && !relayed && ctx.Err() == nil && retryable(err) {
		return fmt.Errorf("%w: %w", errNoFirstMessage, err)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}
