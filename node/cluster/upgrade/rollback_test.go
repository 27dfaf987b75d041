package upgrade

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A rollback returns the nodes that run the plan's target to the version
// each came from, through the same pass: a node rolls its slot back
// (no install), comes back at its old version, is seen healthy for
// Stabilize and is done; nodes that never left their version are not in
// it. A running plan is not rolled back.
func TestRollback(t *testing.T) {
	p, err := NewPlan("p1", Request{Target: Target{Version: "v2.0.0", Digest: digest}}, members(3, 2, "v1.0.0"), t0)
	require.NoError(t, err)
	versions := map[string]string{"worker1": "v2.0.0", "worker2": "v2.0.0", "cp1": "v1.0.0", "cp2": "v1.0.0", "cp3": "v1.0.0"}
	_, err = Rollback(p, versions, t0)
	require.ErrorIs(t, err, ErrPhase, "a running plan is paused or aborted first")
	p, err = Pause(p, "worker2 looks wrong")
	require.NoError(t, err)
	rb, err := Rollback(p, versions, t0)
	require.NoError(t, err)
	assert.True(t, rb.Rollback)
	assert.Equal(t, "p1-rollback", rb.ID)
	assert.Equal(t, []string{"worker1", "worker2"}, rb.Names(), "only the upgraded nodes")
	assert.Equal(t, "v1.0.0", rb.TargetOf("worker1"))
	_, err = Rollback(rb, versions, t0)
	require.ErrorIs(t, err, ErrPhase, "a rollback is not rolled back")

	view := View{Leader: "cp1", Nodes: map[string]NodeView{}}
	for n, v := range versions {
		view.Nodes[n] = NodeView{Alive: true, Healthy: true, Version: v}
	}
	now := t0
	rb, _ = Decide(rb, view, now)
	require.Equal(t, StateInstalling, rb.Steps["worker1"].State)
	require.Equal(t, StatePending, rb.Steps["worker2"].State, "one worker at a time")
	act, g := NextNodeAction(rb, Self{Name: "worker1", Version: "v2.0.0"})
	assert.Equal(t, NodeRollback, act)
	act, _ = NextNodeAction(rb, Self{Name: "worker1", Version: "v2.0.0", Installed: g})
	assert.Equal(t, NodeIdle, act, "once per grant")

	view.Nodes["worker1"] = NodeView{Alive: true, Healthy: true, Version: "v1.0.0"}
	now = now.Add(time.Second)
	rb, _ = Decide(rb, view, now)
	require.Equal(t, StateVerifying, rb.Steps["worker1"].State)
	now = now.Add(time.Second)
	rb, _ = Decide(rb, view, now) // seen healthy
	now = now.Add(rb.Timeouts.Stabilize)
	rb, _ = Decide(rb, view, now) // long enough: confirm (a rolled-back node is not on trial)
	rb, _ = Decide(rb, view, now)
	assert.Equal(t, StateDone, rb.Steps["worker1"].State)
	assert.Equal(t, StateInstalling, rb.Steps["worker2"].State, "then the next")
}
