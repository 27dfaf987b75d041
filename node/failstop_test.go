package node

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
)

// TestStorageFaultStopsRun: a control plane whose store stops on a fatal
// storage fault stops as a whole, with ErrStorageFault and the cause as its
// last log line. The apply fault point fires on the first command, the
// bootstrap config the new leader seeds.
func TestStorageFaultStopsRun(t *testing.T) {
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "failstop", ControlPlanes: 1, LoopbackSubnet: freeSubnet(t)})
	require.NoError(t, err)
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)
	var logs lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Options{
			Config: doc, Name: cfg.Nodes[0].Name, StateDir: t.TempDir(), Capabilities: processCaps(t),
			Profile: formation.TestProfile(), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			Fault: &consensus.Fault{Point: consensus.FaultApply},
		})
	}()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop after its store did")
	}
	require.ErrorIs(t, err, ErrStorageFault)
	require.ErrorIs(t, err, consensus.ErrFaultInjected, "the error names the cause")

	lines := logs.lines()
	last := lines[len(lines)-1]
	assert.Contains(t, last, "level=ERROR")
	assert.Contains(t, last, `msg="stopping on a storage fault"`)
	assert.Contains(t, last, "fault point apply")
	testutil.WaitNoLeaks(t, leakOpts...)
}
