package node

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
)

// A process-mode node with sysctls in its entry boots and reports each
// parameter, and its hostname, with why it is not applied: a parameter the
// kernel lacks is named, and the host's are never written.
func TestNodeReportsSysctlsAndHostname(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	require.NoError(t, err)
	host := strings.TrimSpace(string(b))
	other := map[string]string{"0": "1", "1": "0"}[host]
	require.NotEmpty(t, other, "host ip_forward %q", host)

	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "kernel", ControlPlanes: 1, LoopbackSubnet: freeSubnet(t)})
	require.NoError(t, err)
	cfg.Nodes[0].Kernel.Sysctls = map[string]string{"net.ipv4.ip_forward": other, "net.ipv4.cairn_no_such_parameter": "1"}
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Config: doc, Name: cfg.Nodes[0].Name, StateDir: t.TempDir(), Capabilities: processCaps(t),
			Profile: formation.TestProfile(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		testutil.WaitNoLeaks(t, leakOpts...)
	})

	rc := resourcev1connect.NewResourceServiceClient(clientFor(t, cfg, config.APIRoleReader), "https://"+cfg.Nodes[0].APIEndpoint(), connect.WithGRPC())
	get := func(ct *assert.CollectT, typ, id string) string {
		res, err := rc.Get(context.Background(), connect.NewRequest(&resourcev1.GetRequest{Type: typ, Id: id}))
		require.NoError(ct, err)
		return res.Msg.GetResource().GetSpecYaml()
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		s := get(ct, "sysctlstatus", "net.ipv4.cairn_no_such_parameter")
		assert.Contains(ct, s, "applied: false")
		assert.Contains(ct, s, "error: 'read net.ipv4.cairn_no_such_parameter: no such parameter'")
		s = get(ct, "sysctlstatus", "net.ipv4.ip_forward")
		assert.Contains(ct, s, "applied: false")
		assert.Contains(ct, s, "not applied: cairnd runs as an ordinary process (process mode)")
		h := get(ct, "hostnamestatus", "status")
		assert.Contains(ct, h, "desired: "+cfg.Nodes[0].Name)
		assert.Contains(ct, h, "(process mode)")
	}, 20*time.Second, 20*time.Millisecond)
	b, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	require.NoError(t, err)
	assert.Equal(t, host, strings.TrimSpace(string(b)), "the host's parameter is untouched")
}
