package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/machine/power"
)

func TestPID1Outcome(t *testing.T) {
	live := context.Background()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()

	req := &power.Request{Action: power.Reboot, Reason: "admin"}
	got, ok := power.As(pid1Outcome(live, fmt.Errorf("stop: %w", req)))
	require.True(t, ok)
	assert.Same(t, req, got, "a power request is carried out as it is")

	got, ok = power.As(pid1Outcome(live, fmt.Errorf("%w at config revision 7", node.ErrRemoved)))
	require.True(t, ok)
	assert.Equal(t, power.Poweroff, got.Action, "a removed node stays down")

	got, ok = power.As(pid1Outcome(stopped, nil))
	require.True(t, ok)
	assert.Equal(t, power.Reboot, got.Action, "Ctrl-Alt-Del reboots")

	fatal := errors.New("listen: address in use")
	assert.Equal(t, fatal, pid1Outcome(live, fatal), "anything else is fatal")
	_, ok = power.As(pid1Outcome(live, nil))
	assert.False(t, ok, "stopping by itself is no request")
}

// cairn.timings= picks a PID 1's timing profile; a name cairnd does not
// know is a failed boot stage, and the node runs with --timings' profile.
func TestPID1Profile(t *testing.T) {
	b := &bootReport{log: slog.New(slog.DiscardHandler)}
	p, err := pid1Profile(b, "default", "")
	require.NoError(t, err)
	assert.Equal(t, formation.DefaultProfile(), p)
	assert.Empty(t, b.report.Boot.Stages, "no cairn.timings=: no stage")

	p, err = pid1Profile(b, "default", "slow")
	require.NoError(t, err)
	assert.Equal(t, formation.SlowProfile(), p)
	require.Len(t, b.report.Boot.Stages, 1)
	assert.Equal(t, controllers.StageOK, b.report.Boot.Stages[0].State)

	p, err = pid1Profile(b, "default", "quick")
	require.NoError(t, err)
	assert.Equal(t, formation.DefaultProfile(), p)
	require.Len(t, b.report.Boot.Stages, 2)
	assert.Equal(t, controllers.StageFailed, b.report.Boot.Stages[1].State)
	assert.Contains(t, b.report.Boot.Stages[1].Error, `cairn.timings=: timings "quick"`)
}
