package api_test

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

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/capability"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// TestHealthRPC runs a 3+1 cluster of full nodes in this process: Health
// is evaluated by a control plane whichever node is asked (a worker
// forwards it), a reader may ask, and after a control plane stops the
// answer still comes and blames it.
func TestHealthRPC(t *testing.T) {
	cfg, stop := runCluster(t, 3, 1)
	cp2, cp3, worker := cfg.Nodes[1], cfg.Nodes[2], cfg.Nodes[3]
	require.Equal(t, config.RoleWorker, worker.Role)
	reader := readerClient(t, cfg)
	healthAt := func(n config.Node) (*clusterv1.HealthResponse, error) {
		c := clusterv1connect.NewClusterServiceClient(reader, "https://"+n.APIEndpoint(), connect.WithGRPC())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.Health(ctx, connect.NewRequest(&clusterv1.HealthRequest{}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}

	var res *clusterv1.HealthResponse
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var err error
		res, err = healthAt(worker)
		require.NoError(ct, err)
		assert.True(ct, res.Healthy, "%v", res.Checks)
	}, 30*time.Second, 100*time.Millisecond)
	var names []string
	for _, c := range res.Checks {
		names = append(names, c.Name)
		assert.True(t, c.Ok, c.Detail)
		assert.Empty(t, c.Nodes)
	}
	assert.Equal(t, []string{"nodes", "leader", "raft", "etcd", "kubernetes", "config"}, names)
	assert.Equal(t, "4 nodes alive and in agreement (cp1, cp2, cp3, worker1)", res.Checks[0].Detail)
	assert.Contains(t, []string{"cp1", "cp2", "cp3"}, res.NodeName, "a worker forwards Health to a control plane")

	own, err := healthAt(cp2)
	require.NoError(t, err)
	assert.Equal(t, cp2.Name, own.NodeName, "a control plane evaluates Health itself")
	assert.Len(t, own.Checks, 6)

	// A stopped control plane does not stall the evaluation: it is named.
	stop(cp3.Name)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		res, err := healthAt(worker)
		require.NoError(ct, err)
		require.False(ct, res.Healthy)
		var blamed []string
		for _, c := range res.Checks {
			blamed = append(blamed, c.Nodes...)
		}
		assert.Contains(ct, blamed, cp3.Name, "%v", res.Checks)
	}, 30*time.Second, 100*time.Millisecond)
}

// runCluster runs a cluster of full nodes in this process until the test
// ends; stop ends one node early.
func runCluster(t *testing.T, controlPlanes, workers int) (cfg *config.Config, stop func(name string)) {
	t.Helper()
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "health", ControlPlanes: controlPlanes, Workers: workers, LoopbackSubnet: freeSubnet()})
	require.NoError(t, err)
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)
	processCaps, err := capability.ForMode(capability.ModeProcess)
	require.NoError(t, err)
	cancels := map[string]context.CancelFunc{}
	done := make(chan error, len(cfg.Nodes))
	for _, n := range cfg.Nodes {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[n.Name] = cancel
		go func() {
			done <- node.Run(ctx, node.Options{
				Config: doc, Name: n.Name, StateDir: t.TempDir(), Capabilities: processCaps,
				Profile: formation.TestProfile(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
		}()
	}
	t.Cleanup(func() {
		for _, cancel := range cancels {
			cancel()
		}
		for range cfg.Nodes {
			assert.NoError(t, <-done)
		}
		testutil.WaitNoLeaks(t, testutil.RaftLeak)
	})
	return cfg, func(name string) { cancels[name]() }
}

// freeSubnet finds a 127.0.N.0/24 whose first addresses have the API port
// free.
func freeSubnet() int {
	for n := 150 + os.Getpid()%100; ; n = n%250 + 1 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.%d.1:%d", n, config.DefaultAPIPort))
		if err == nil {
			_ = ln.Close()
			return n
		}
	}
}

// readerClient returns an HTTPS client with an os:reader certificate from
// the cluster CA.
func readerClient(t *testing.T, cfg *config.Config) *http.Client {
	t.Helper()
	pair, err := config.GenerateAdminClientCert(cfg.Secrets.CA, "test", []string{config.APIRoleReader}, time.Hour)
	require.NoError(t, err)
	cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(cfg.Secrets.CA.Crt)))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
