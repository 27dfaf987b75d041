package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/runtime"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
)

// NewResourceHandler returns the route and handler of
// cairn.resource.v1.ResourceService over st: a read-only view of this node's
// controller inputs and outputs, for `cairnctl get` and debugging. It never
// writes to st; resources change only through controllers and
// configuration. Types are the node's (controllers.Definitions); the
// request size limit (limits.go) always applies, after opts.
func NewResourceHandler(st *runtime.State, opts ...connect.HandlerOption) (string, http.Handler) {
	opts = append(slices.Clip(opts), requestLimits())
	return resourcev1connect.NewResourceServiceHandler(&resourceService{st: st, defs: controllers.Definitions()}, opts...)
}

type resourceService struct {
	st   *runtime.State
	defs []runtime.Definition
}

// resolveType returns the type name stands for: a defined type, by name or
// alias in any case; else a type the state holds, in any case (so that a
// type someone forgot to define stays reachable); else ErrUnknownType,
// naming the known types.
func (s *resourceService) resolveType(name string) (string, error) {
	if name == "" {
		return "", connect.NewError(connect.CodeInvalidArgument, errors.New("type is required"))
	}
	for _, d := range s.defs {
		if d.Matches(name) {
			return d.Type, nil
		}
	}
	known := s.definitions()
	for _, d := range known {
		if strings.EqualFold(d.Type, name) {
			return d.Type, nil
		}
	}
	names := make([]string, len(known))
	for i, d := range known {
		names[i] = d.Type
	}
	return "", fmt.Errorf("%w %q; known types: %s", ErrUnknownType, name, strings.Join(names, ", "))
}

// definitions returns the defined types and any other type the state holds
// (without a description), ordered by name ignoring case.
func (s *resourceService) definitions() []runtime.Definition {
	out := slices.Clone(s.defs)
	for _, t := range s.st.Types() {
		if !slices.ContainsFunc(s.defs, func(d runtime.Definition) bool { return d.Type == t }) {
			out = append(out, runtime.Definition{Type: t})
		}
	}
	slices.SortFunc(out, func(a, b runtime.Definition) int {
		return strings.Compare(strings.ToLower(a.Type), strings.ToLower(b.Type))
	})
	return out
}

// ListDefinitions implements cairn.resource.v1.ResourceService.
func (s *resourceService) ListDefinitions(context.Context, *connect.Request[resourcev1.ListDefinitionsRequest]) (*connect.Response[resourcev1.ListDefinitionsResponse], error) {
	out := &resourcev1.ListDefinitionsResponse{}
	for _, d := range s.definitions() {
		out.Definitions = append(out.Definitions, &resourcev1.ResourceDefinition{
			Type: d.Type, Aliases: slices.Clone(d.Aliases), Description: d.Description,
		})
	}
	return connect.NewResponse(out), nil
}

// Get implements cairn.resource.v1.ResourceService.
func (s *resourceService) Get(_ context.Context, req *connect.Request[resourcev1.GetRequest]) (*connect.Response[resourcev1.GetResponse], error) {
	if req.Msg.GetType() == "" || req.Msg.GetId() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("type and id are required"))
	}
	typ, err := s.resolveType(req.Msg.GetType())
	if err != nil {
		return nil, resourceError(err)
	}
	r, err := s.st.Get(typ, req.Msg.GetId())
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
	typ, err := s.resolveType(req.Msg.GetType())
	if err != nil {
		return nil, resourceError(err)
	}
	list := s.st.List(typ)
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
	typ, err := s.resolveType(req.Msg.GetType())
	if err != nil {
		return resourceError(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the watch if Send fails
	for ev := range s.st.Watch(ctx, typ, req.Msg.GetId()) {
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
