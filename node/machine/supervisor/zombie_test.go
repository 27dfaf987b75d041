package supervisor_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
)

// TestNoZombiesAfterCrashLoops churns processes every way they can end —
// SIGKILLed by themselves, non-zero exits, health-driven kills with exec
// checks — and checks that every child was reaped: none is left as a
// zombie once the services are stopped, nor after Run returns (the harness
// checks that after every test).
func TestNoZombiesAfterCrashLoops(t *testing.T) {
	h := start(t, nil)
	sick := h.path("sick")
	require.NoError(t, os.WriteFile(sick, nil, 0o600))
	checked := childSpec("checked")
	checked.Health = fastHealth(supervisor.HealthCheck{Exec: []string{supervisortest.Path(), "check-absent=" + sick}})
	for _, s := range []supervisor.Spec{childSpec("crasher", "crash"), childSpec("exiter", "exit=2"), checked} {
		require.NoError(t, h.sup.Add(s))
	}
	for _, name := range []string{"crasher", "exiter", "checked"} {
		h.waitStatus(name, "5 restarts", func(s supervisor.Status) bool { return s.Restarts >= 5 })
	}
	require.Equal(t, -1, h.status("crasher").LastExitCode)
	require.Equal(t, 2, h.status("exiter").LastExitCode)

	// Stop returns once the process is reaped and the checks have ended,
	// so nothing may be left unreaped now, with the supervisor running.
	for _, name := range []string{"crasher", "exiter", "checked"} {
		require.NoError(t, h.sup.Stop(name))
	}
	require.Empty(t, zombies(t))
}
