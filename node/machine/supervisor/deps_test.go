package supervisor_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/supervisor"
)

// TestDependencyOrder chains a <- b <- c, where a has a health check that
// fails at first: b and c wait, b starts only after a is healthy, c only
// after b runs.
func TestDependencyOrder(t *testing.T) {
	h := start(t, nil)
	flag := h.path("a-unhealthy")
	require.NoError(t, os.WriteFile(flag, nil, 0o600))
	addr := freeAddr(t)
	a := childSpec("a", "http="+addr, "unhealthy-if="+flag)
	a.Health = fastHealth(supervisor.HealthCheck{HTTP: "http://" + addr + "/healthz", StartPeriod: waitFor * 10})
	b := childSpec("b", "starts="+h.path("b"))
	b.DependsOn = []string{"a"}
	c := childSpec("c")
	c.DependsOn = []string{"b"}
	for _, s := range []supervisor.Spec{c, b, a} { // order of Add does not matter
		require.NoError(t, h.sup.Add(s))
	}

	h.waitStatus("a", "a failed check", func(s supervisor.Status) bool {
		return s.State == supervisor.StateStarting && strings.HasPrefix(s.Message, "in start period")
	})
	st := h.status("b")
	require.Equal(t, supervisor.StateWaiting, st.State)
	require.Equal(t, "waiting for a (starting unknown)", st.Message)
	require.Equal(t, "waiting for b (waiting)", h.status("c").Message)
	require.Empty(t, startTimes(t, h.path("b")), "b started before a was healthy")

	require.NoError(t, os.Remove(flag))
	h.waitReady("c")
	healthy := h.events.find("service health changed", "a").filter("health", "healthy")
	bStarted := h.events.find("service process started", "b")
	cStarted := h.events.find("service process started", "c")
	require.Len(t, bStarted, 1)
	require.Len(t, cStarted, 1)
	require.False(t, bStarted[0].time.Before(healthy[0].time), "b started before a became healthy")
	require.False(t, cStarted[0].time.Before(bStarted[0].time), "c started before b")
}

// TestDependencyAddedLater starts a service whose dependency does not exist
// yet; adding it while Run runs unblocks the dependent.
func TestDependencyAddedLater(t *testing.T) {
	h := start(t, nil)
	d := childSpec("dependent")
	d.DependsOn = []string{"ghost"}
	require.NoError(t, h.sup.Add(d))
	h.waitStatus("dependent", "waiting for ghost", func(s supervisor.Status) bool {
		return s.Message == "waiting for ghost (not defined)"
	})
	require.NoError(t, h.sup.Add(childSpec("ghost")))
	h.waitReady("dependent")
}

// TestStartCondition holds a service until its condition holds, and stops
// a service whose condition blocks.
func TestStartCondition(t *testing.T) {
	h := start(t, nil)
	marker := h.path("ready-to-start")
	polled := childSpec("polled")
	polled.Condition = func(context.Context) error {
		_, err := os.Stat(marker)
		return err
	}
	blocked := childSpec("blocked")
	blocked.Condition = func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}
	require.NoError(t, h.sup.Add(polled))
	require.NoError(t, h.sup.Add(blocked))

	st := h.waitStatus("polled", "condition error", func(s supervisor.Status) bool {
		return strings.HasPrefix(s.Message, "waiting for start condition: ")
	})
	require.Equal(t, supervisor.StateWaiting, st.State)
	require.Contains(t, st.Message, "no such file or directory")
	require.NoError(t, os.WriteFile(marker, nil, 0o600))
	h.waitReady("polled")

	h.waitStatus("blocked", "waiting", func(s supervisor.Status) bool { return s.Message == "waiting for start condition" })
	require.NoError(t, h.sup.Stop("blocked"))
	require.Equal(t, supervisor.StateStopped, h.status("blocked").State)
}

// TestAddValidation covers the errors of Add and of commands.
func TestAddValidation(t *testing.T) {
	sup := supervisor.New(supervisor.Options{})
	bad := map[string]supervisor.Spec{
		"no name":       {Path: "/bin/true"},
		"bad name":      {Name: "Etcd/1", Path: "/bin/true"},
		"relative path": {Name: "x", Path: "bin/true"},
		"self dep":      {Name: "x", Path: "/bin/true", DependsOn: []string{"x"}},
		"two checks":    {Name: "x", Path: "/bin/true", Health: &supervisor.HealthCheck{HTTP: "http://a/", TCP: "a:1"}},
		"no check":      {Name: "x", Path: "/bin/true", Health: &supervisor.HealthCheck{}},
		"bad url":       {Name: "x", Path: "/bin/true", Health: &supervisor.HealthCheck{HTTP: "localhost:80"}},
		"bad tcp":       {Name: "x", Path: "/bin/true", Health: &supervisor.HealthCheck{TCP: "localhost"}},
		"backoff":       {Name: "x", Path: "/bin/true", Backoff: supervisor.Backoff{Initial: 2, Max: 1}},
	}
	for name, spec := range bad {
		require.ErrorIs(t, sup.Add(spec), supervisor.ErrInvalidSpec, name)
	}

	require.NoError(t, sup.Add(supervisor.Spec{Name: "a", Path: "/bin/true", DependsOn: []string{"c"}}))
	require.NoError(t, sup.Add(supervisor.Spec{Name: "b", Path: "/bin/true", DependsOn: []string{"a"}}))
	require.ErrorIs(t, sup.Add(supervisor.Spec{Name: "b", Path: "/bin/true"}), supervisor.ErrExists)
	err := sup.Add(supervisor.Spec{Name: "c", Path: "/bin/true", DependsOn: []string{"b"}})
	require.ErrorIs(t, err, supervisor.ErrDependencyCycle)
	require.ErrorContains(t, err, "c -> b -> a -> c")

	require.ErrorIs(t, sup.Start("a"), supervisor.ErrNotRunning)
	require.ErrorIs(t, sup.Stop("nope"), supervisor.ErrNotFound)
	_, err = sup.Status("nope")
	require.ErrorIs(t, err, supervisor.ErrNotFound)
	_, _, err = sup.Logs("nope", false, 1)
	require.ErrorIs(t, err, supervisor.ErrNotFound)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, sup.Run(ctx))
	require.True(t, errors.Is(sup.Run(ctx), supervisor.ErrClosed))
	require.ErrorIs(t, sup.Add(supervisor.Spec{Name: "late", Path: "/bin/true"}), supervisor.ErrClosed)
	require.ErrorIs(t, sup.Restart("a"), supervisor.ErrNotRunning)
}
