package supervisor_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/supervisor"
)

// Removing a running service stops its process and forgets it; the name can
// then be added again with another spec, which runs a new process.
func TestRemoveStopsAndForgetsAService(t *testing.T) {
	h := start(t, nil, childSpec("svc"))
	first := h.waitStatus("svc", "running", func(s supervisor.Status) bool { return s.State == supervisor.StateRunning && s.PID > 0 })

	changed := h.sup.Changed()
	require.NoError(t, h.sup.Remove("svc"))
	select {
	case <-changed:
	default:
		t.Fatal("Remove must signal Changed")
	}
	assert.True(t, processGone(first.PID), "the process is gone")
	_, err := h.sup.Status("svc")
	require.ErrorIs(t, err, supervisor.ErrNotFound)
	assert.Empty(t, h.sup.List())
	require.ErrorIs(t, h.sup.Remove("svc"), supervisor.ErrNotFound)

	require.NoError(t, h.sup.Add(childSpec("svc", "print=second")))
	second := h.waitStatus("svc", "running again", func(s supervisor.Status) bool { return s.State == supervisor.StateRunning && s.PID > 0 })
	assert.NotEqual(t, first.PID, second.PID)
	h.waitLine("svc", "second", 1)
}
