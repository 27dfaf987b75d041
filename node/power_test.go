package node

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/power"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
)

// runOne runs a one-control-plane cluster's node on dir and returns the
// channel Run's error arrives on, once the API serves.
func runOne(t *testing.T, cfg *config.Config, dir string) <-chan error {
	t.Helper()
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Options{
			Config: doc, Name: cfg.Nodes[0].Name, StateDir: dir, Capabilities: processCaps(t),
			Profile: formation.TestProfile(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: ready,
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run ended before serving: %v", err)
	}
	return done
}

// runEnds waits for Run to return.
func runEnds(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the power request")
		return nil
	}
}

func TestPowerRequestsThroughTheAPIEndRun(t *testing.T) {
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "power", ControlPlanes: 1, LoopbackSubnet: freeSubnet(t)})
	require.NoError(t, err)
	dir := t.TempDir()
	admin := clientFor(t, cfg, config.APIRoleAdmin)
	addr := "https://" + cfg.Nodes[0].APIEndpoint()
	mc := machinev1connect.NewMachineServiceClient(admin, addr, connect.WithGRPC())
	cc := clusterv1connect.NewClusterServiceClient(admin, addr, connect.WithGRPC())

	// Reboot: answered, then Run stops and returns the request; the state
	// stays, and the next start has a new boot ID.
	done := runOne(t, cfg, dir)
	v1, err := mc.Version(t.Context(), connect.NewRequest(&machinev1.VersionRequest{}))
	require.NoError(t, err)
	require.NotEmpty(t, v1.Msg.GetBootId())
	rb, err := mc.Reboot(t.Context(), connect.NewRequest(&machinev1.RebootRequest{}))
	require.NoError(t, err, "the call is answered before the node goes down")
	assert.Equal(t, v1.Msg.GetBootId(), rb.Msg.GetBootId())
	r, ok := power.As(runEnds(t, done))
	require.True(t, ok, "Run returns the power request")
	assert.Equal(t, power.Reboot, r.Action)
	assert.False(t, r.Reset)
	stateID, err := os.ReadFile(filepath.Join(dir, stateIDFile))
	require.NoError(t, err, "a reboot keeps the state")
	assert.DirExists(t, filepath.Join(dir, "raft"))

	done = runOne(t, cfg, dir)
	v2, err := mc.Version(t.Context(), connect.NewRequest(&machinev1.VersionRequest{}))
	require.NoError(t, err)
	assert.NotEqual(t, v1.Msg.GetBootId(), v2.Msg.GetBootId(), "a new start, a new boot ID")
	again, err := os.ReadFile(filepath.Join(dir, stateIDFile))
	require.NoError(t, err)
	assert.Equal(t, stateID, again, "same state after the reboot")

	// The only voter cannot leave Raft: a graceful reset is refused and
	// the node runs on, untouched.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		_, err := cc.GetConfig(t.Context(), connect.NewRequest(&clusterv1.GetConfigRequest{}))
		require.NoError(ct, err, "a leader serves the config")
	}, 20*time.Second, 20*time.Millisecond)
	_, err = mc.Reset(t.Context(), connect.NewRequest(&machinev1.ResetRequest{}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "%v", err)
	_, err = mc.Version(t.Context(), connect.NewRequest(&machinev1.VersionRequest{}))
	require.NoError(t, err, "still serving")

	// Not graceful: answered, Run returns a reset request, and the state
	// directory is empty.
	off := false
	res, err := mc.Reset(t.Context(), connect.NewRequest(&machinev1.ResetRequest{Graceful: &off}))
	require.NoError(t, err)
	assert.Equal(t, string(stateID[:len(stateID)-1]), res.Msg.GetStateId())
	r, ok = power.As(runEnds(t, done))
	require.True(t, ok)
	assert.Equal(t, power.Request{Action: power.Reboot, Reset: true, Reason: r.Reason}, *r)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "a reset wipes the whole state directory")
	testutil.WaitNoLeaks(t, leakOpts...)
}

func TestWipeStateKeepsTheBootStagesFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"boot.pid", "boot.sock", "state-id", "keyring.json", "raft/raft.db", "logs/etcd.log"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600))
	}
	require.NoError(t, wipeState(dir))
	var left []string
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assert.Equal(t, []string{"boot.pid", "boot.sock"}, left)
	require.NoError(t, wipeState(dir), "wiping twice is fine")
}

func TestWaitStoppedGivesUpOnAStuckComponent(t *testing.T) {
	var wg sync.WaitGroup
	stuck := make(chan struct{})
	wg.Go(func() { <-stuck })
	var buf strings.Builder
	waitStopped(&wg, 10*time.Millisecond, slog.New(slog.NewTextHandler(&buf, nil)))
	assert.Contains(t, buf.String(), "components did not stop in time")
	assert.Contains(t, buf.String(), "TestWaitStoppedGivesUpOnAStuckComponent", "the stacks name the stuck goroutine")
	close(stuck)
	wg.Wait()
}
