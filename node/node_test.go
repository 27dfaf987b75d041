package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/controllers"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if runtimeDir != "" { // the container runtime builtRuntime built
		_ = os.RemoveAll(runtimeDir)
	}
	if code == 0 {
		if err := goleak.Find(leakOpts...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var leakOpts = []goleak.Option{testutil.RaftLeak, testutil.SpawnerLeak}

// freeSubnet finds a 127.0.N.0/24 whose first addresses have the API port free.
func freeSubnet(t *testing.T) int {
	for n := 100 + os.Getpid()%100; ; n = n%250 + 1 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.1:%d", n, config.DefaultAPIPort))
		if err == nil {
			_ = ln.Close()
			return n
		}
	}
}

// clientFor returns an HTTPS client with a certificate carrying roles,
// minted from the cluster CA (nil roles: no client certificate at all).
func clientFor(t testing.TB, cfg *config.Config, roles ...string) *http.Client {
	var certs []tls.Certificate
	if len(roles) > 0 {
		certs = append(certs, clientCert(t, cfg, roles...))
	}
	return clientWith(t, cfg, certs...)
}

// clientCert mints a client certificate with roles from the cluster CA.
func clientCert(t testing.TB, cfg *config.Config, roles ...string) tls.Certificate {
	pair, err := config.GenerateAdminClientCert(cfg.Secrets.CA, "test", roles, time.Hour)
	require.NoError(t, err)
	cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
	require.NoError(t, err)
	return cert
}

// clientWith returns an HTTPS client trusting the cluster CA, presenting certs.
func clientWith(t testing.TB, cfg *config.Config, certs ...tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(cfg.Secrets.CA.Crt)))
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, Certificates: certs}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}
}

// startNodes runs a cluster of full nodes in this process until the test ends.
func startNodes(t *testing.T, controlPlanes, workers int) *config.Config {
	t.Helper()
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "inproc", ControlPlanes: controlPlanes, Workers: workers, LoopbackSubnet: freeSubnet(t)})
	require.NoError(t, err)
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(cfg.Nodes))
	for _, n := range cfg.Nodes {
		go func() {
			done <- Run(ctx, Options{
				Config: doc, Name: n.Name, StateDir: t.TempDir(), Capabilities: processCaps(t),
				Profile: formation.TestProfile(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range cfg.Nodes {
			assert.NoError(t, <-done)
		}
		testutil.WaitNoLeaks(t, leakOpts...)
	})
	return cfg
}

// TestNodesInProcess runs a 3+1 cluster of full nodes in one process and
// checks forwarding from a worker, node proxying and applied revisions.
func TestNodesInProcess(t *testing.T) {
	cfg := startNodes(t, 3, 1)
	worker := cfg.Nodes[len(cfg.Nodes)-1]
	require.Equal(t, config.RoleWorker, worker.Role)
	admin := clientFor(t, cfg, config.APIRoleAdmin)
	wc := clusterv1connect.NewClusterServiceClient(admin, "https://"+worker.APIEndpoint(), connect.WithGRPC())
	var cur *clusterv1.GetConfigResponse
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		res, err := wc.GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{}))
		require.NoError(ct, err)
		cur = res.Msg
	}, 20*time.Second, 20*time.Millisecond)

	// A write sent to the worker is forwarded to the leader.
	next := cfg.Redacted()
	next.Cluster.Kubernetes.Version = "1.38.9"
	nextDoc, err := next.Marshal(false)
	require.NoError(t, err)
	res, err := wc.ApplyConfig(context.Background(), connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: string(nextDoc), ExpectedRevision: cur.Revision}))
	require.NoError(t, err)

	// Every node reports the new revision as applied (through gossip).
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		m, err := wc.Members(context.Background(), connect.NewRequest(&clusterv1.MembersRequest{}))
		require.NoError(ct, err)
		require.Len(ct, m.Msg.Members, 4)
		for _, mm := range m.Msg.Members {
			assert.Equal(ct, res.Msg.Revision, mm.AppliedConfigRevision, mm.Name)
		}
	}, 20*time.Second, 20*time.Millisecond)

	// Cairn-Node reaches another node through the worker's endpoint.
	mc := machinev1connect.NewMachineServiceClient(admin, "https://"+worker.APIEndpoint(), connect.WithGRPC())
	req := connect.NewRequest(&machinev1.VersionRequest{})
	req.Header().Set("Cairn-Node", cfg.Nodes[1].Name)
	v, err := mc.Version(context.Background(), req)
	require.NoError(t, err)
	assert.Equal(t, cfg.Nodes[1].Name, v.Msg.NodeName)

	// The node's local resources are served by the resource service.
	rc := resourcev1connect.NewResourceServiceClient(admin, "https://"+worker.APIEndpoint(), connect.WithGRPC())
	st, err := rc.Get(context.Background(), connect.NewRequest(&resourcev1.GetRequest{Type: controllers.TypeConfigStatus, Id: controllers.IDApplied}))
	require.NoError(t, err)
	assert.Contains(t, st.Msg.Resource.SpecYaml, fmt.Sprintf("revision: %d", res.Msg.Revision))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		gs, err := rc.Get(context.Background(), connect.NewRequest(&resourcev1.GetRequest{Type: controllers.TypeGossipStatus, Id: "local"}))
		require.NoError(ct, err)
		assert.Contains(ct, gs.Msg.Resource.SpecYaml, "joined: true")
		assert.Contains(ct, gs.Msg.Resource.SpecYaml, "aliveMembers: 4")
	}, 10*time.Second, 50*time.Millisecond)
	cc, err := rc.Get(context.Background(), connect.NewRequest(&resourcev1.GetRequest{Type: controllers.TypeClusterConfig, Id: controllers.IDCluster}))
	require.NoError(t, err)
	assert.NotContains(t, cc.Msg.Resource.SpecYaml, cfg.Secrets.GossipKey, "local resources never hold secrets")

	req = connect.NewRequest(&machinev1.VersionRequest{})
	req.Header().Set("Cairn-Node", "nosuchnode")
	_, err = mc.Version(context.Background(), req)
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
}

func TestRunRefusesInvalidConfig(t *testing.T) {
	err := Run(context.Background(), Options{Config: []byte("apiVersion: cairn.dev/v1alpha1\nkind: ClusterConfig\n"), Name: "x", StateDir: t.TempDir()})
	var ve *config.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.NotEmpty(t, ve.Violations)
}

// processCaps is process mode's capabilities, as cairnd derives them.
func processCaps(t testing.TB) capability.Set {
	t.Helper()
	caps, err := capability.ForMode(capability.ModeProcess)
	require.NoError(t, err)
	return caps
}
