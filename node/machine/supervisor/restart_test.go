package supervisor_test

import (
	"errors"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/supervisor"
)

// TestCrashLoopBackoffGrows runs a program that exits at once: every
// restart waits twice as long as the one before, up to the cap, and the
// measured gaps between starts are at least those delays.
func TestCrashLoopBackoffGrows(t *testing.T) {
	h := start(t, nil)
	starts := h.path("starts")
	require.NoError(t, h.sup.Add(childSpec("crashy", "starts="+starts, "exit=1")))

	st := h.waitStatus("crashy", "5 restarts", func(s supervisor.Status) bool { return s.Restarts >= 5 })
	require.Equal(t, 1, st.LastExitCode)
	require.EqualError(t, st.LastError, "exited with code 1")
	var ee *exec.ExitError
	require.ErrorAs(t, st.LastError, &ee)

	delays := h.events.durations("service backing off", "crashy", "delay")
	require.GreaterOrEqual(t, len(delays), 5)
	require.Equal(t, []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond,
		160 * time.Millisecond, 160 * time.Millisecond}, delays[:5])

	// Restarts counts a start when it happens; the program records it a
	// moment later. The gaps are lower bounds (the timer really waited),
	// which load can only lengthen; no upper bound is asserted.
	var times []time.Time
	require.Eventually(t, func() bool { times = startTimes(t, starts); return len(times) >= 6 }, waitFor, pollEvery)
	for i := 1; i < 6; i++ {
		require.GreaterOrEqual(t, times[i].Sub(times[i-1]), delays[i-1], "gap before start %d", i+1)
	}
}

// TestBackoffResetsAfterMinUptime restarts a program that runs longer than
// MinUptime before failing: that is not a crash loop, so every delay is the
// initial one.
func TestBackoffResetsAfterMinUptime(t *testing.T) {
	h := start(t, nil)
	spec := childSpec("flaky", "exit=1", "after=60ms")
	spec.Backoff.MinUptime = 30 * time.Millisecond
	require.NoError(t, h.sup.Add(spec))

	h.waitStatus("flaky", "3 restarts", func(s supervisor.Status) bool { return s.Restarts >= 3 })
	delays := h.events.durations("service backing off", "flaky", "delay")
	require.GreaterOrEqual(t, len(delays), 3)
	for _, d := range delays {
		require.Equal(t, backoffInitial, d)
	}
}

// TestRestartPolicies checks where each policy leaves a service after its
// process exits.
func TestRestartPolicies(t *testing.T) {
	tests := []struct {
		name     string
		policy   supervisor.RestartPolicy
		args     []string
		state    supervisor.State
		starts   int // exact number of starts at the end
		exitCode int
	}{
		{"once-success", supervisor.RestartOnce, []string{"exit=0"}, supervisor.StateFinished, 1, 0},
		{"once-failure", supervisor.RestartOnce, []string{"exit=3"}, supervisor.StateFailed, 1, 3},
		{"once-crash", supervisor.RestartOnce, []string{"crash"}, supervisor.StateFailed, 1, -1},
		{"until-success", supervisor.RestartUntilSuccess, []string{"exit=1", "succeed-after=3"}, supervisor.StateFinished, 3, 0},
	}
	h := start(t, nil)
	for _, tt := range tests {
		spec := childSpec(tt.name, append([]string{"starts=" + h.path(tt.name)}, tt.args...)...)
		spec.Restart = tt.policy
		require.NoError(t, h.sup.Add(spec))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := h.waitStatus(tt.name, tt.state.String(), func(s supervisor.Status) bool { return s.State == tt.state })
			require.Len(t, startTimes(t, h.path(tt.name)), tt.starts)
			require.Equal(t, tt.starts-1, st.Restarts)
			require.Equal(t, tt.exitCode, st.LastExitCode)
			require.Zero(t, st.PID)
			if tt.state == supervisor.StateFailed {
				require.Error(t, st.LastError)
			}
		})
	}

	t.Run("always-after-success", func(t *testing.T) {
		require.NoError(t, h.sup.Add(childSpec("always", "exit=0")))
		st := h.waitStatus("always", "2 restarts", func(s supervisor.Status) bool { return s.Restarts >= 2 })
		require.Equal(t, 0, st.LastExitCode)
		require.NoError(t, st.LastError)
	})
}

// TestStartFailureIsRetried covers a program that cannot be executed at
// all: the start error is reported and retried like an exit.
func TestStartFailureIsRetried(t *testing.T) {
	h := start(t, nil)
	spec := childSpec("missing")
	spec.Path = h.path("no-such-program")
	require.NoError(t, h.sup.Add(spec))
	st := h.waitStatus("missing", "2 restarts", func(s supervisor.Status) bool { return s.Restarts >= 2 })
	var pe *exec.Error
	if !errors.As(st.LastError, &pe) {
		require.ErrorContains(t, st.LastError, "no such file or directory")
	}
	require.Contains(t, st.Message, "start failed")
}

// TestStartStopRestart drives a service by hand.
func TestStartStopRestart(t *testing.T) {
	h := start(t, nil, childSpec("svc", "print=ready"))
	first := h.waitReady("svc")
	h.waitLine("svc", "ready", 1)

	require.NoError(t, h.sup.Start("svc")) // already running: no-op
	require.Equal(t, first.PID, h.status("svc").PID)

	require.NoError(t, h.sup.Restart("svc"))
	second := h.waitReady("svc")
	require.NotEqual(t, first.PID, second.PID)
	require.Equal(t, 1, second.Restarts)

	h.waitLine("svc", "ready", 2)
	require.NoError(t, h.sup.Stop("svc"))
	st := h.status("svc")
	require.Equal(t, supervisor.StateStopped, st.State)
	require.Zero(t, st.PID)
	require.NoError(t, h.sup.Stop("svc")) // already stopped: no-op

	require.NoError(t, h.sup.Start("svc"))
	third := h.waitReady("svc")
	require.Equal(t, 2, third.Restarts)
}
