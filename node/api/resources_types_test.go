package api_test

import (
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/runtime"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
)

func TestResourceTypesResolveByNameOrAliasInAnyCase(t *testing.T) {
	checkLeaks(t)
	st := runtime.NewState()
	putResource(t, st, controllers.TypeAddresses, "lo/127.0.0.1", "a", nil)
	putResource(t, st, controllers.TypeNetworkStatus, controllers.IDStatus, "s", nil)
	putResource(t, st, "AddressSpec", "eth0", "x", nil) // present, not defined

	for name, c := range resourceClients(t, st) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			for _, typ := range []string{"addresses", "Addresses", "ADDRESS", "addr", "addrs"} {
				list, err := c.List(ctx, connect.NewRequest(&resourcev1.ListRequest{Type: typ}))
				require.NoError(t, err, typ)
				require.Len(t, list.Msg.GetResources(), 1, typ)
				assert.Equal(t, controllers.TypeAddresses, list.Msg.GetResources()[0].GetType(), typ)
			}
			for _, typ := range []string{"networkstatus", "NETWORKSTATUS", "netstatus", "networkstatuses"} {
				got, err := c.Get(ctx, connect.NewRequest(&resourcev1.GetRequest{Type: typ, Id: controllers.IDStatus}))
				require.NoError(t, err, typ)
				assert.Equal(t, controllers.TypeNetworkStatus, got.Msg.GetResource().GetType(), typ)
			}
			list, err := c.List(ctx, connect.NewRequest(&resourcev1.ListRequest{Type: "addressspec"}))
			require.NoError(t, err, "a type the state holds is found in any case, defined or not")
			require.Len(t, list.Msg.GetResources(), 1)

			w, err := c.Watch(ctx, connect.NewRequest(&resourcev1.WatchRequest{Type: "netStatus"}))
			require.NoError(t, err)
			defer w.Close()
			require.Equal(t, watchStep{resourcev1.EventType_EVENT_TYPE_CREATED, controllers.IDStatus, "s\n"}, receive(t, w))
		})
	}
}

func TestUnknownResourceTypeIsInvalidArgumentNamingTheKnownOnes(t *testing.T) {
	checkLeaks(t)
	st := runtime.NewState()
	for name, c := range resourceClients(t, st) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			check := func(err error) {
				t.Helper()
				require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%v", err)
				assert.Contains(t, err.Error(), `unknown resource type "foo"`)
				var names []string
				for _, d := range controllers.Definitions() {
					names = append(names, d.Type)
				}
				slices.SortFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
				assert.Contains(t, err.Error(), "known types: "+strings.Join(names, ", "), "every defined type, sorted")
			}
			_, err := c.List(ctx, connect.NewRequest(&resourcev1.ListRequest{Type: "foo"}))
			check(err)
			_, err = c.Get(ctx, connect.NewRequest(&resourcev1.GetRequest{Type: "foo", Id: "x"}))
			check(err)
			w, err := c.Watch(ctx, connect.NewRequest(&resourcev1.WatchRequest{Type: "foo"}))
			require.NoError(t, err)
			defer w.Close()
			require.False(t, w.Receive())
			check(w.Err())
		})
	}
}

func TestListDefinitionsHasEveryTypeWithAliasesAndDescriptions(t *testing.T) {
	checkLeaks(t)
	st := runtime.NewState()
	putResource(t, st, "AddressSpec", "eth0", "x", nil)
	for name, c := range resourceClients(t, st) {
		t.Run(name, func(t *testing.T) {
			res, err := c.ListDefinitions(t.Context(), connect.NewRequest(&resourcev1.ListDefinitionsRequest{}))
			require.NoError(t, err)
			byType := map[string]*resourcev1.ResourceDefinition{}
			var order []string
			for _, d := range res.Msg.GetDefinitions() {
				byType[d.GetType()] = d
				order = append(order, d.GetType())
			}
			assert.IsNonDecreasing(t, lower(order), "ordered by name, ignoring case")
			for _, d := range controllers.Definitions() {
				require.Contains(t, byType, d.Type)
				assert.Equal(t, d.Aliases, byType[d.Type].GetAliases())
				assert.NotEmpty(t, byType[d.Type].GetDescription())
			}
			assert.Contains(t, byType["addresses"].GetAliases(), "addr")
			require.Contains(t, byType, "AddressSpec", "a type the state holds is listed even without a definition")
			assert.Empty(t, byType["AddressSpec"].GetDescription())
		})
	}
}

func TestResourceRequestsOverTheLimitAreRefused(t *testing.T) {
	checkLeaks(t)
	st := runtime.NewState()
	for name, c := range resourceClients(t, st) {
		t.Run(name, func(t *testing.T) {
			_, err := c.List(t.Context(), connect.NewRequest(&resourcev1.ListRequest{Type: strings.Repeat("x", 5<<20)}))
			require.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(err), "%v", err)
		})
	}
}

func lower(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}
