package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node"
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
