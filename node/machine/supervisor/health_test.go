package supervisor_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
)

// TestHealthDrivenRestart makes a healthy service fail its check: after
// FailureThreshold failures in a row its process is killed and a new one
// started, which recovers once the check passes again.
func TestHealthDrivenRestart(t *testing.T) {
	for _, kind := range []string{"http", "exec"} {
		t.Run(kind, func(t *testing.T) {
			h := start(t, nil)
			flag := h.path("unhealthy")
			spec := childSpec("svc")
			switch kind {
			case "http":
				addr := freeAddr(t)
				spec.Args = []string{"http=" + addr, "unhealthy-if=" + flag}
				spec.Health = fastHealth(supervisor.HealthCheck{HTTP: "http://" + addr + "/healthz"})
			case "exec":
				spec.Health = fastHealth(supervisor.HealthCheck{Exec: []string{supervisortest.Path(), "check-absent=" + flag}})
			}
			require.NoError(t, h.sup.Add(spec))

			first := h.waitReady("svc")
			require.Equal(t, supervisor.HealthHealthy, first.Health)
			require.Zero(t, first.Restarts)

			require.NoError(t, os.WriteFile(flag, nil, 0o600))
			h.waitStatus("svc", "restarted by health", func(s supervisor.Status) bool {
				return s.Restarts >= 1 && s.PID != 0 && s.PID != first.PID
			})
			require.NotEmpty(t, h.events.find("service failed its health check, restarting", "svc"))
			require.ErrorIs(t, h.status("svc").LastError, supervisor.ErrUnhealthy)

			require.NoError(t, os.Remove(flag))
			st := h.waitReady("svc")
			require.Equal(t, supervisor.HealthHealthy, st.Health)
		})
	}
}

// TestTCPHealthCheck covers the TCP probe and the start period: a service
// listening on its port becomes ready; one whose port stays closed never
// leaves Starting and is restarted; with a long start period the same
// failures are reported but not counted.
func TestTCPHealthCheck(t *testing.T) {
	h := start(t, nil)
	addr := freeAddr(t)
	listening := childSpec("listening", "http="+addr)
	listening.Health = fastHealth(supervisor.HealthCheck{TCP: addr})
	deaf := childSpec("deaf")
	deaf.Health = fastHealth(supervisor.HealthCheck{TCP: freeAddr(t)})
	patient := childSpec("patient")
	patient.Health = fastHealth(supervisor.HealthCheck{TCP: freeAddr(t), StartPeriod: waitFor * 10})
	for _, s := range []supervisor.Spec{listening, deaf, patient} {
		require.NoError(t, h.sup.Add(s))
	}

	h.waitReady("listening")
	st := h.waitStatus("deaf", "restarted", func(s supervisor.Status) bool { return s.Restarts >= 1 })
	require.ErrorIs(t, st.LastError, supervisor.ErrUnhealthy)
	require.Empty(t, h.events.find("service state changed", "deaf").filter("state", "running"))

	st = h.waitStatus("patient", "a failure in the start period", func(s supervisor.Status) bool {
		return s.State == supervisor.StateStarting && strings.HasPrefix(s.Message, "in start period")
	})
	require.Equal(t, supervisor.HealthUnknown, st.Health)
	require.Zero(t, st.Restarts)
}
