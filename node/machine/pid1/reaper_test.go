package pid1

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
)

// runReaper runs a reaper until the test ends.
func runReaper(t *testing.T) *Reaper {
	t.Helper()
	r := NewReaper(nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

// TestReaperReapsOrphans: a shell that leaves a background child behind
// and exits makes that child an orphan of this process (a subreaper, as
// PID 1 would be); once it exits, the reaper reaps it, while the shell's
// own exit status still reaches its Exec.
func TestReaperReapsOrphans(t *testing.T) {
	r := runReaper(t)
	changed := r.Changed()
	const orphans = 5
	for i := range orphans {
		// The subshell outlives the shell, so it is orphaned before it exits.
		cmd := exec.Command("/bin/sh", "-c", "(sleep 0.05; exit 3) & exit "+strconv.Itoa(10+i))
		err := r.Exec(cmd)
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "the shell's own status is not stolen")
		require.Equal(t, 10+i, ee.ExitCode())
	}
	require.Eventually(t, func() bool { return r.Reaped() >= orphans }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(zombieChildren("/proc", os.Getpid())) == 0 }, 10*time.Second, 10*time.Millisecond)
	select {
	case <-changed:
	default:
		t.Fatal("Changed was not closed after a reap")
	}
	require.NotEqual(t, changed, r.Changed(), "a fresh channel waits for the next reap")
}

// TestReaperLeavesSupervisedExitsToTheSupervisor is the conflict
// node/machine/supervisor/DESIGN.md names: a supervised service whose
// group leaves an orphan behind on every run (the supervisor kills the
// group after the leader exits, the killed grandchild is reparented to
// this subreaper) crash-loops with exit code 7 while the reaper runs.
// Every exit the supervisor sees is the service's own code 7, never a
// stolen status (ECHILD), and every orphan is reaped.
func TestReaperLeavesSupervisedExitsToTheSupervisor(t *testing.T) {
	r := runReaper(t)
	dir := t.TempDir()
	events := &exits{}
	sup := supervisor.New(supervisor.Options{Reaper: r, Logger: slog.New(events)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	sick := filepath.Join(dir, "sick") // absent: the exec check passes
	require.NoError(t, sup.Add(supervisor.Spec{
		Name: "orphaner", Path: supervisortest.Path(), Env: supervisortest.Env(),
		Args:    []string{"grandchild=" + filepath.Join(dir, "grandchild.pid"), "exit=7", "after=20ms"},
		Backoff: supervisor.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
		Health: &supervisor.HealthCheck{
			Exec:     []string{supervisortest.Path(), "check-absent=" + sick},
			Interval: 5 * time.Millisecond, Timeout: 5 * time.Second,
		},
	}))
	const runs = 10
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		st, err := sup.Status("orphaner")
		require.NoError(c, err)
		assert.GreaterOrEqual(c, st.Restarts, runs)
	}, 60*time.Second, 10*time.Millisecond)
	codes, unhealthy := events.get() // before Stop, whose SIGTERM ends the last run
	require.NoError(t, sup.Stop("orphaner"))
	require.GreaterOrEqual(t, len(codes), runs)
	for _, c := range codes {
		require.Equal(t, int64(7), c, "an exit status was stolen: %v", codes)
	}
	require.Zero(t, unhealthy, "an exec check's status was stolen")
	require.GreaterOrEqual(t, r.Reaped(), uint64(runs), "each run's orphan was reaped")
	require.Eventually(t, func() bool { return len(zombieChildren("/proc", os.Getpid())) == 0 }, 10*time.Second, 10*time.Millisecond)
}

// exits records the exit codes and failed health checks the supervisor
// logs.
type exits struct {
	mu        sync.Mutex
	codes     []int64
	unhealthy int
}

func (e *exits) Enabled(context.Context, slog.Level) bool { return true }
func (e *exits) WithAttrs([]slog.Attr) slog.Handler       { return e }
func (e *exits) WithGroup(string) slog.Handler            { return e }

func (e *exits) Handle(_ context.Context, rec slog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch rec.Message {
	case "service process exited":
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "code" {
				e.codes = append(e.codes, a.Value.Int64())
			}
			return true
		})
	case "service failed its health check, restarting":
		e.unhealthy++
	}
	return nil
}

func (e *exits) get() ([]int64, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.codes), e.unhealthy
}

func TestZombieOf(t *testing.T) {
	for _, tc := range []struct {
		stat string
		pid  int
		ok   bool
	}{
		{"42 (sleep) Z 7 42 42 0", 42, true},
		{"42 (a) b) Z) Z 7 1", 42, true},
		{"42 (sleep) S 7 42", 0, false},
		{"42 (sleep) Z 8 42", 0, false},
		{"garbage", 0, false},
	} {
		pid, ok := zombieOf(tc.stat, "7")
		assert.Equal(t, tc.ok, ok, tc.stat)
		assert.Equal(t, tc.pid, pid, tc.stat)
	}
}
