package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// BenchmarkGetConfig measures the API's GetConfig path in one process (one
// control plane), to find the per-request cost without other processes.
func BenchmarkGetConfig(b *testing.B) {
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "bench", ControlPlanes: 1, LoopbackSubnet: 240})
	require.NoError(b, err)
	doc, err := cfg.Marshal(false)
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: doc, Name: cfg.Nodes[0].Name, StateDir: b.TempDir(), Capabilities: processCaps(b),
			Profile: formation.TestProfile(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	defer func() { cancel(); <-done }()
	addr := cfg.Nodes[0].APIEndpoint()
	require.Eventually(b, func() bool {
		_, err := clusterv1connect.NewClusterServiceClient(clientFor(b, cfg, config.APIRoleReader), "https://"+addr, connect.WithGRPC()).
			GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{}))
		return err == nil
	}, 20*time.Second, 20*time.Millisecond)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cl := clusterv1connect.NewClusterServiceClient(clientFor(b, cfg, config.APIRoleReader), "https://"+addr, connect.WithGRPC())
		for pb.Next() {
			if _, err := cl.GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{})); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
