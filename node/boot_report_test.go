package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/controllers"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
)

// TestBootReportIsServed: what cairnd's boot did before Run (Options.Boot)
// and the image's modules (Options.ImageModules) are resources the API
// serves, as `cairnctl get bootstatus|statediskstatus|kmodspec` shows them.
func TestBootReportIsServed(t *testing.T) {
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "boot", ControlPlanes: 1, LoopbackSubnet: freeSubnet(t)})
	require.NoError(t, err)
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			Config: doc, Name: cfg.Nodes[0].Name, StateDir: t.TempDir(), Capabilities: processCaps(t),
			Profile: formation.TestProfile(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			ImageModules: []string{"virtio-net"},
			Boot: &controllers.BootReport{
				Boot: controllers.BootStatusSpec{Mode: "pid1", ConfigSource: "fwcfg", Stages: []controllers.BootStage{
					{Name: "mount /proc", State: controllers.StageOK},
					{Name: "module virtio_blk", State: controllers.StageFailed, Error: "unknown module"},
				}},
				StateDisk: &controllers.StateDiskStatusSpec{State: "refused", Disk: "/dev/vda", Reason: "holds an xfs filesystem"},
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		testutil.WaitNoLeaks(t, leakOpts...)
	})

	rc := resourcev1connect.NewResourceServiceClient(clientFor(t, cfg, config.APIRoleAdmin), "https://"+cfg.Nodes[0].APIEndpoint(), connect.WithGRPC())
	get := func(ct *assert.CollectT, typ, id string) string {
		res, err := rc.Get(context.Background(), connect.NewRequest(&resourcev1.GetRequest{Type: typ, Id: id}))
		require.NoError(ct, err)
		return res.Msg.Resource.SpecYaml
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Contains(ct, get(ct, controllers.TypeBootStatus, controllers.IDMachine), "failed: 1")
		assert.Contains(ct, get(ct, controllers.TypeStateDiskStatus, controllers.IDVar), "reason: holds an xfs filesystem")
		assert.Contains(ct, get(ct, controllers.TypeKernelModuleSpec, "virtio_net"), "source: image")
	}, 20*time.Second, 20*time.Millisecond)
}
