package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/resources"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// noMembers is a gossip view with nobody in it: a lone control plane that
// leads never needs to route.
type noMembers struct{}

func (noMembers) Members() []gossip.Member            { return nil }
func (noMembers) Member(string) (gossip.Member, bool) { return gossip.Member{}, false }

// widgetType is the writable test type: a spec needs a positive "size".
func widgetType() resources.Definition {
	return resources.Definition{
		Type: "Widget", Aliases: []string{"widgets", "wd"}, Description: "a test type", Writable: true,
		Validate: func(spec []byte) error {
			var w struct {
				Size int `json:"size"`
			}
			if err := json.Unmarshal(spec, &w); err != nil {
				return resources.Invalid("Widget", config.Violation{Field: "size", Message: err.Error()})
			}
			if w.Size <= 0 {
				return resources.Invalid("Widget", config.Violation{Field: "size", Message: "must be positive"})
			}
			return nil
		},
	}
}

// openStore starts a real single-voter Raft store on loopback, keeping
// historyLimit events (0: the default).
func openStore(t testing.TB, historyLimit int) *consensus.Store {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	s, err := consensus.Open(consensus.Config{
		NodeID: "n1", DataDir: t.TempDir(), BindAddr: addr, Timing: consensus.FastTiming(), HistoryLimit: historyLimit,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.Bootstrap([]consensus.Server{{ID: "n1", Address: addr}}))
	require.Eventually(t, s.IsLeader, 10*time.Second, 10*time.Millisecond)
	return s
}

// resourceFixture is a lone control plane serving the cluster resource
// API over a real store holding a seeded cluster config, with Widget
// registered beside the built-in types.
type resourceFixture struct {
	store  *consensus.Store
	config *config.Config
	client func(roles ...string) clusterv1connect.ClusterResourceServiceClient
	// addr is the API's address; http a client of it with roles.
	addr string
	http func(roles ...string) *http.Client
}

func newResourceFixture(t testing.TB, historyLimit int) *resourceFixture {
	t.Helper()
	st := openStore(t, historyLimit)
	c, err := config.Generate(config.GenerateOptions{ClusterName: "demo", ControlPlanes: 1})
	require.NoError(t, err)
	require.NoError(t, cfgstore.Seed(t.Context(), st, c))
	reg, err := resources.New(append(resources.Builtin(), widgetType())...)
	require.NoError(t, err)
	addr, client := tlsAPI(t, api.Options{ControlPlane: true, Replica: st, Membership: noMembers{}, ClusterResources: reg})
	return &resourceFixture{store: st, config: c, addr: addr, http: client, client: func(roles ...string) clusterv1connect.ClusterResourceServiceClient {
		return clusterv1connect.NewClusterResourceServiceClient(client(roles...), "https://"+addr, connect.WithGRPC())
	}}
}
