package supervisor_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/supervisor"
)

// TestStopHonorsSIGTERM stops a program that exits cleanly on SIGTERM.
func TestStopHonorsSIGTERM(t *testing.T) {
	h := start(t, nil, childSpec("graceful", "print=ready"))
	h.waitLine("graceful", "ready", 1)

	require.NoError(t, h.sup.Stop("graceful"))
	st := h.status("graceful")
	require.Equal(t, supervisor.StateStopped, st.State)
	require.Equal(t, 0, st.LastExitCode)
	require.Equal(t, "stopped on request (exited with code 0)", st.Message)
	h.waitLine("graceful", "terminating on SIGTERM", 1)
	require.Empty(t, h.events.find("service process ignored SIGTERM, killed", "graceful"))
}

// TestStopKillsAfterTimeout stops a program that ignores SIGTERM: it is
// killed with SIGKILL once StopTimeout has passed.
func TestStopKillsAfterTimeout(t *testing.T) {
	spec := childSpec("stubborn", "ignore-term", "print=ready")
	spec.StopTimeout = 200 * time.Millisecond
	h := start(t, nil, spec)
	h.waitLine("stubborn", "ready", 1)

	began := time.Now()
	require.NoError(t, h.sup.Stop("stubborn"))
	// A lower bound only: it shows the stop waited out StopTimeout, and a
	// loaded machine can only lengthen the wait, never fail it.
	require.GreaterOrEqual(t, time.Since(began), spec.StopTimeout)
	require.Equal(t, []time.Duration{spec.StopTimeout},
		h.events.durations("service process ignored SIGTERM, killed", "stubborn", "timeout"))
	st := h.status("stubborn")
	require.Equal(t, supervisor.StateStopped, st.State)
	require.Equal(t, -1, st.LastExitCode)
	require.Equal(t, "stopped on request (killed by signal killed)", st.Message)
	require.Len(t, h.events.find("service process ignored SIGTERM, killed", "stubborn"), 1)
}

// TestStopReachesProcessGroup checks that what a service spawned goes with
// it: a grandchild that honors SIGTERM gets it from the group signal, and
// one that ignores it is killed once the service's process has exited.
func TestStopReachesProcessGroup(t *testing.T) {
	for _, tt := range []struct{ name, arg string }{
		{"honors-term", ""},
		{"ignores-term", "grandchild-ignore-term"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, nil)
			pidFile := h.path("grandchild.pid")
			require.NoError(t, h.sup.Add(childSpec("parent", "grandchild="+pidFile, tt.arg, "print=ready")))
			h.waitLine("parent", "ready", 1)
			var pid int
			require.Eventually(t, func() bool {
				data, err := os.ReadFile(pidFile)
				pid, _ = strconv.Atoi(string(data))
				return err == nil && pid > 0
			}, waitFor, pollEvery, "no grandchild PID in %s", pidFile)
			require.False(t, processGone(pid), "grandchild %d is not running", pid)

			require.NoError(t, h.sup.Stop("parent"))
			require.Eventually(t, func() bool { return processGone(pid) }, waitFor, pollEvery,
				"grandchild %d survived its service", pid)
		})
	}
}

// TestRunStopsInReverseDependencyOrder ends Run with a chain a <- b <- c
// and an unrelated d running: c stops before b, b before a.
func TestRunStopsInReverseDependencyOrder(t *testing.T) {
	h := start(t, nil)
	stops := h.path("stops")
	deps := map[string][]string{"a": nil, "b": {"a"}, "c": {"b"}, "d": nil}
	for name, on := range deps {
		spec := childSpec(name, "stops="+stops, "name="+name, "print=ready")
		spec.DependsOn = on
		require.NoError(t, h.sup.Add(spec))
	}
	for name := range deps {
		h.waitReady(name)
		h.waitLine(name, "ready", 1)
	}

	h.stop()
	data, err := os.ReadFile(stops)
	require.NoError(t, err)
	var order []string
	for _, n := range strings.Fields(string(data)) {
		if n != "d" {
			order = append(order, n)
		}
	}
	require.Equal(t, []string{"c", "b", "a"}, order)
	require.Contains(t, strings.Fields(string(data)), "d")
	for _, st := range h.sup.List() {
		require.Equal(t, supervisor.StateStopped, st.State, st.Name)
		require.Equal(t, 0, st.LastExitCode, st.Name)
		require.Equal(t, "stopped: supervisor shutting down (exited with code 0)", st.Message, st.Name)
	}
}
