package formation

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
)

// TestHealthReflectsTheNodesState: gossip health is "ok" until part of the
// node stops; then peers see what stopped, a stopped Raft store first.
func TestHealthReflectsTheNodesState(t *testing.T) {
	c := newTestCluster(t, "health", 1)
	c.startControlPlanes(1)
	cp := c.agents["cp1"]
	w := c.start("w1", gossip.RoleWorker)
	seen := func(want string) {
		t.Helper()
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			m, ok := w.Gossip().Member("cp1")
			require.True(ct, ok)
			assert.Equal(ct, want, m.Meta.Health)
		}, 10*time.Second, 10*time.Millisecond)
	}
	seen("ok")

	cp.Degrade("config source")
	cp.Degrade("config source") // once is enough
	seen("degraded: config source")

	store := c.leaderStore()
	require.True(t, store.InjectFault(consensus.Fault{Point: consensus.FaultLogWrite}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := store.Put(ctx, "T", "x", nil)
	require.ErrorIs(t, err, consensus.ErrStopped)
	seen("degraded: raft store stopped, config source")

	w.Degrade("kernel notifications")
	require.Eventually(t, func() bool {
		return w.Gossip().LocalMeta().Health == "degraded: kernel notifications"
	}, 10*time.Second, 10*time.Millisecond, "a worker, which has no store, degrades too")
}

func TestHealthStaysCompact(t *testing.T) {
	a := &Agent{metaKick: make(chan struct{}, 1)}
	for _, what := range []string{"config source", "controller runtime", "supervisor", "kernel notifications", "gossip status"} {
		a.Degrade(what)
	}
	h := a.health()
	assert.LessOrEqual(t, len(h), healthMaxLen)
	assert.Contains(t, h, "degraded: config source, controller runtime")
}
