package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/runtime"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
)

type addressSpec struct {
	CIDR string `json:"cidr"`
	Link string `json:"link"`
}

// resourceClients serves the handler over st in-process and returns one
// client per wire: Connect over HTTP/1.1 and gRPC over h2c.
func resourceClients(t *testing.T, st *runtime.State) map[string]resourcev1connect.ResourceServiceClient {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(api.NewResourceHandler(st))

	h1 := httptest.NewServer(mux)
	t.Cleanup(h1.Close)

	h2 := httptest.NewUnstartedServer(mux)
	h2.Config.Protocols = new(http.Protocols)
	h2.Config.Protocols.SetUnencryptedHTTP2(true)
	h2.Start()
	t.Cleanup(h2.Close)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)

	return map[string]resourcev1connect.ResourceServiceClient{
		"connect-http1": resourcev1connect.NewResourceServiceClient(h1.Client(), h1.URL),
		"grpc-h2c":      resourcev1connect.NewResourceServiceClient(&http.Client{Transport: tr}, h2.URL, connect.WithGRPC()),
	}
}

func putResource(t *testing.T, st *runtime.State, typ, id string, spec any, labels map[string]string) runtime.Resource {
	t.Helper()
	r, err := st.Put(runtime.Resource{Type: typ, ID: id, Spec: spec, Labels: labels})
	require.NoError(t, err)
	return r
}

func TestResourceGetList(t *testing.T) {
	checkLeaks(t)
	st := runtime.NewState()
	eth1 := putResource(t, st, "AddressSpec", "eth1", addressSpec{CIDR: "10.0.1.1/24", Link: "eth1"}, nil)
	eth0 := putResource(t, st, "AddressSpec", "eth0", addressSpec{CIDR: "10.0.0.1/24", Link: "eth0"}, map[string]string{"source": "config"})

	for name, c := range resourceClients(t, st) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			got, err := c.Get(ctx, connect.NewRequest(&resourcev1.GetRequest{Type: "AddressSpec", Id: "eth0"}))
			require.NoError(t, err)
			r := got.Msg.GetResource()
			require.Equal(t, "AddressSpec", r.GetType())
			require.Equal(t, "eth0", r.GetId())
			require.Equal(t, eth0.Version, r.GetVersion())
			require.Equal(t, "cidr: 10.0.0.1/24\nlink: eth0\n", r.GetSpecYaml())
			require.Equal(t, map[string]string{"source": "config"}, r.GetLabels())

			_, err = c.Get(ctx, connect.NewRequest(&resourcev1.GetRequest{Type: "AddressSpec", Id: "eth9"}))
			require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
			_, err = c.Get(ctx, connect.NewRequest(&resourcev1.GetRequest{Id: "eth0"}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))

			list, err := c.List(ctx, connect.NewRequest(&resourcev1.ListRequest{Type: "AddressSpec"}))
			require.NoError(t, err)
			rs := list.Msg.GetResources()
			require.Len(t, rs, 2)
			require.Equal(t, []string{"eth0", "eth1"}, []string{rs[0].GetId(), rs[1].GetId()})
			require.Equal(t, eth1.Version, rs[1].GetVersion())

			// A defined type with no resources lists empty.
			empty, err := c.List(ctx, connect.NewRequest(&resourcev1.ListRequest{Type: controllers.TypeRoutes}))
			require.NoError(t, err)
			require.Empty(t, empty.Msg.GetResources())
		})
	}
}

type watchStep struct {
	event resourcev1.EventType
	id    string
	yaml  string
}

func receive(t *testing.T, s *connect.ServerStreamForClient[resourcev1.WatchResponse]) watchStep {
	t.Helper()
	require.True(t, s.Receive(), "stream ended: %v", s.Err())
	m := s.Msg()
	return watchStep{m.GetEvent(), m.GetResource().GetId(), m.GetResource().GetSpecYaml()}
}

func TestResourceWatch(t *testing.T) {
	checkLeaks(t)
	for _, name := range []string{"connect-http1", "grpc-h2c"} {
		t.Run(name, func(t *testing.T) {
			st := runtime.NewState()
			c := resourceClients(t, st)[name]
			putResource(t, st, "AddressSpec", "eth0", "a", nil)
			putResource(t, st, "AddressSpec", "eth1", "b", nil)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			all, err := c.Watch(ctx, connect.NewRequest(&resourcev1.WatchRequest{Type: "AddressSpec"}))
			require.NoError(t, err)
			defer all.Close()
			one, err := c.Watch(ctx, connect.NewRequest(&resourcev1.WatchRequest{Type: "AddressSpec", Id: "eth1"}))
			require.NoError(t, err)
			defer one.Close()

			// Existing resources come first, ordered by ID; once they have
			// arrived both server-side watches exist, so later writes are live.
			require.Equal(t, []watchStep{
				{resourcev1.EventType_EVENT_TYPE_CREATED, "eth0", "a\n"},
				{resourcev1.EventType_EVENT_TYPE_CREATED, "eth1", "b\n"},
			}, []watchStep{receive(t, all), receive(t, all)})
			require.Equal(t, watchStep{resourcev1.EventType_EVENT_TYPE_CREATED, "eth1", "b\n"}, receive(t, one))

			putResource(t, st, "AddressSpec", "eth1", "c", nil)
			putResource(t, st, "AddressSpec", "eth1", "c", nil) // no-op: no event
			require.NoError(t, st.Delete("AddressSpec", "eth0", ""))
			require.NoError(t, st.Delete("AddressSpec", "eth1", ""))

			require.Equal(t, []watchStep{
				{resourcev1.EventType_EVENT_TYPE_UPDATED, "eth1", "c\n"},
				{resourcev1.EventType_EVENT_TYPE_DELETED, "eth0", "a\n"},
				{resourcev1.EventType_EVENT_TYPE_DELETED, "eth1", "c\n"},
			}, []watchStep{receive(t, all), receive(t, all), receive(t, all)})
			require.Equal(t, []watchStep{
				{resourcev1.EventType_EVENT_TYPE_UPDATED, "eth1", "c\n"},
				{resourcev1.EventType_EVENT_TYPE_DELETED, "eth1", "c\n"},
			}, []watchStep{receive(t, one), receive(t, one)})
		})
	}
}

// checkLeaks fails t if goroutines it started outlive it. It is registered
// first so that it runs after every other cleanup (servers, transports).
func checkLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt, testutil.SpawnerLeak) })
}
