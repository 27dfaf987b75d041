package api_test

import (
	"context"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
	"github.com/cairn-project/cairn/node/runtime"
	servicev1 "github.com/cairn-project/cairn/proto/gen/cairn/service/v1"
)

// Services are resources: a controller's ServiceSpec is run by the
// supervisor, a changed spec replaces the process, a removed spec stops
// it, and what `cairnctl services` lists (ServiceService.List) follows —
// as does ServiceStatus.
func TestServiceSpecsConvergeTheSupervisor(t *testing.T) {
	noLeaks(t)
	sup := runSupervisor(t)
	st := runtime.NewState()
	rt := runtime.New(st, runtime.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BackoffInitial: 5 * time.Millisecond})
	require.NoError(t, rt.Register(&controllers.ServiceApply{Supervisor: sup}))
	require.NoError(t, rt.RegisterSource(&controllers.ServiceStatus{Supervisor: sup}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	spec := func(args ...string) controllers.ServiceSpecSpec {
		return controllers.ServiceSpecSpec{Path: supervisortest.Path(), Env: supervisortest.Env(), Args: args, StopTimeout: 5 * time.Second}
	}
	put := func(name string, s controllers.ServiceSpecSpec) {
		_, err := st.Put(runtime.Resource{Type: controllers.TypeServiceSpec, ID: name, Spec: s})
		require.NoError(t, err)
	}
	put("alpha", spec("print=first"))
	put("beta", spec())
	var c = serviceClients(t, sup)["grpc-h2c"]
	var alpha, beta *servicev1.Service
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		got := listServices(ct, c)
		alpha, beta = got["alpha"], got["beta"]
		assert.Equal(ct, servicev1.ServiceState_SERVICE_STATE_RUNNING, alpha.GetState())
		assert.Equal(ct, servicev1.ServiceState_SERVICE_STATE_RUNNING, beta.GetState())
	}, serviceWait, 5*time.Millisecond)

	put("alpha", spec("print=second"))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		now := listServices(ct, c)["alpha"]
		assert.Equal(ct, servicev1.ServiceState_SERVICE_STATE_RUNNING, now.GetState())
		assert.NotEqual(ct, alpha.GetPid(), now.GetPid(), "a changed spec replaces the process")
		r, err := st.Get(controllers.TypeServiceStatus, "alpha")
		require.NoError(ct, err)
		assert.Equal(ct, int(now.GetPid()), r.Spec.(controllers.ServiceStatusSpec).PID, "ServiceStatus follows")
	}, serviceWait, 5*time.Millisecond)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		lines, stop, err := sup.Logs("alpha", false, -1)
		require.NoError(ct, err)
		var out []string
		for l := range lines {
			out = append(out, l)
		}
		stop()
		assert.Contains(ct, out, "second", "the new process runs the new arguments")
	}, serviceWait, 5*time.Millisecond)

	require.NoError(t, st.Delete(controllers.TypeServiceSpec, "beta", ""))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.NotContains(ct, listServices(ct, c), "beta", "a removed spec's service is gone")
		_, err := st.Get(controllers.TypeServiceStatus, "beta")
		assert.ErrorIs(ct, err, runtime.ErrNotFound)
	}, serviceWait, 5*time.Millisecond)
	_, err := sup.Status("beta")
	require.ErrorIs(t, err, supervisor.ErrNotFound)
	assert.True(t, pidGone(int(beta.GetPid())), "its process was stopped")
}

// pidGone reports whether no process has the PID any more (it was reaped by
// the supervisor, so signal 0 fails).
func pidGone(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) != nil
}
