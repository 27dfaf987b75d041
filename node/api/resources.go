package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/runtime"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
)

// NewResourceHandler returns the route and handler of
// cairn.resource.v1.ResourceService over st: a read-only view of this node's
// controller inputs and outputs, for `cairnctl get` and debugging. It never
// writes to st; resources change only through controllers and
// configuration.
func NewResourceHandler(st *runtime.State) (string, http.Handler) {
	return resourcev1connect.NewResourceServiceHandler(&resourceService{st: st})
}

type resourceService struct{ st *runtime.State }

// Get implements cairn.resource.v1.ResourceService.
func (s *resourceService) Get(_ context.Context, req *connect.Request[resourcev1.GetRequest]) (*connect.Response[resourcev1.GetResponse], error) {
	if req.Msg.GetType() == "" || req.Msg.GetId() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("type and id are required"))
	}
	r, err := s.st.Get(req.Msg.GetType(), req.Msg.GetId())
	if err != nil {
		return nil, resourceError(err)
	}
	pb, err := resourceToProto(r)
	if err != nil {
		return nil, resourceError(err)
	}
	return connect.NewResponse(&resourcev1.GetResponse{Resource: pb}), nil
}

// List implements cairn.resource.v1.ResourceService.
func (s *resourceService) List(_ context.Context, req *connect.Request[resourcev1.ListRequest]) (*connect.Response[resourcev1.ListResponse], error) {
	if req.Msg.GetType() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("type is required"))
	}
	list := s.st.List(req.Msg.GetType())
	out := &resourcev1.ListResponse{Resources: make([]*resourcev1.Resource, 0, len(list))}
	for _, r := range list {
		pb, err := resourceToProto(r)
		if err != nil {
			return nil, resourceError(err)
		}
		out.Resources = append(out.Resources, pb)
	}
	return connect.NewResponse(out), nil
}

// Watch implements cairn.resource.v1.ResourceService. Once the existing
// resources are sent it flushes the response headers, so a client watching
// an empty type still learns that the watch is established.
func (s *resourceService) Watch(ctx context.Context, req *connect.Request[resourcev1.WatchRequest], stream *connect.ServerStream[resourcev1.WatchResponse]) error {
	if req.Msg.GetType() == "" {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("type is required"))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the watch if Send fails
	for ev := range s.st.Watch(ctx, req.Msg.GetType(), req.Msg.GetId()) {
		if ev.Type == runtime.EventBootstrapped {
			if err := stream.Send(nil); err != nil {
				return err
			}
			continue
		}
		pb, err := resourceToProto(ev.Resource)
		if err != nil {
			return resourceError(err)
		}
		if err := stream.Send(&resourcev1.WatchResponse{Event: eventToProto(ev.Type), Resource: pb}); err != nil {
			return err
		}
	}
	return resourceError(ctx.Err())
}

func resourceToProto(r runtime.Resource) (*resourcev1.Resource, error) {
	pb := &resourcev1.Resource{Type: r.Type, Id: r.ID, Version: r.Version, Labels: r.Labels}
	if r.Spec == nil {
		return pb, nil
	}
	spec, err := yaml.Marshal(r.Spec)
	if err != nil {
		return nil, fmt.Errorf("render %s/%s spec: %w", r.Type, r.ID, err)
	}
	pb.SpecYaml = string(spec)
	return pb, nil
}

func eventToProto(t runtime.EventType) resourcev1.EventType {
	switch t {
	case runtime.EventCreated:
		return resourcev1.EventType_EVENT_TYPE_CREATED
	case runtime.EventUpdated:
		return resourcev1.EventType_EVENT_TYPE_UPDATED
	case runtime.EventDeleted:
		return resourcev1.EventType_EVENT_TYPE_DELETED
	}
	return resourcev1.EventType_EVENT_TYPE_UNSPECIFIED
}

// resourceError maps runtime errors to Connect codes; the rest falls to
// the package-wide mapping.
func resourceError(err error) error {
	if errors.Is(err, runtime.ErrNotFound) {
		return connect.NewError(connect.CodeNotFound, err)
	}
	return toConnect(err)
}
