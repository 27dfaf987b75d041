//go:build unix

package boot_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/boot"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
)

func TestCrashingChildIsRestartedWithCappedBackoff(t *testing.T) {
	s := startStage(t, boot.Options{
		Command: childCommand("exit=3"),
		Backoff: boot.Backoff{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, MinUptime: time.Hour},
	})

	require.Eventually(t, func() bool { return len(s.log.durations("child backing off", "delay")) >= 5 },
		10*time.Second, 10*time.Millisecond)
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{10 * ms, 20 * ms, 40 * ms, 40 * ms, 40 * ms},
		s.log.durations("child backing off", "delay")[:5], "doubling, capped at Max")
	st := s.mustCall(t, boot.OpStatus)
	assert.GreaterOrEqual(t, st.Restarts, 5)
	assert.Equal(t, "exited with code 3", st.LastExit)
	assert.Equal(t, os.Getpid(), st.PID)
}

func TestBackoffResetsAfterAStableRun(t *testing.T) {
	s := startStage(t, boot.Options{
		Command: childCommand("exit=1", "after=30ms"),
		Backoff: boot.Backoff{Initial: 5 * time.Millisecond, Max: time.Second, MinUptime: 10 * time.Millisecond},
	})

	require.Eventually(t, func() bool { return len(s.log.durations("child backing off", "delay")) >= 3 },
		10*time.Second, 10*time.Millisecond)
	for _, d := range s.log.durations("child backing off", "delay")[:3] {
		assert.Equal(t, 5*time.Millisecond, d, "a child that ran for MinUptime restarts after Initial")
	}
}

func TestStopStartRestartThroughTheSocket(t *testing.T) {
	s := startStage(t, boot.Options{Command: childCommand()})

	st := s.mustCall(t, boot.OpStatus)
	require.Equal(t, boot.StateRunning, st.State)
	first := st.ChildPID
	require.True(t, alive(first))

	st = s.mustCall(t, boot.OpStop)
	assert.Equal(t, boot.StateStopped, st.State)
	assert.Zero(t, st.ChildPID)
	assert.False(t, alive(first), "stop returns after the child exited")
	assert.NotEmpty(t, st.LastExit, "how the stopped child ended")
	again := s.mustCall(t, boot.OpStop)
	assert.Equal(t, boot.StateStopped, again.State, "stop is idempotent")

	st = s.mustCall(t, boot.OpStart)
	require.Equal(t, boot.StateRunning, st.State)
	second := st.ChildPID
	assert.NotEqual(t, first, second)
	assert.True(t, alive(second))
	assert.Equal(t, second, s.mustCall(t, boot.OpStart).ChildPID, "start of a running child changes nothing")

	st = s.mustCall(t, boot.OpRestart)
	require.Equal(t, boot.StateRunning, st.State)
	assert.NotEqual(t, second, st.ChildPID)
	assert.False(t, alive(second))
	assert.Zero(t, st.Restarts, "requested restarts are not crashes")

	_, err := s.call("reboot")
	require.ErrorIs(t, err, boot.ErrUnknownOp)
}

func TestShutdownStopsTheChildAndEndsRun(t *testing.T) {
	s := startStage(t, boot.Options{Command: childCommand()})
	child := s.mustCall(t, boot.OpStatus).ChildPID

	st := s.mustCall(t, boot.OpShutdown)

	assert.Equal(t, boot.StateStopped, st.State)
	assert.Zero(t, st.ChildPID)
	assert.False(t, alive(child))
	select {
	case err := <-s.errc:
		require.NoError(t, err)
		s.cancel = nil
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after shutdown")
	}
	assert.NoFileExists(t, boot.SocketPath(s.dir))
	assert.NoFileExists(t, boot.PIDPath(s.dir))
	_, err := s.call(boot.OpStatus)
	require.ErrorIs(t, err, boot.ErrNotRunning)
}

func TestStopKillsAChildThatIgnoresSIGTERM(t *testing.T) {
	s := startStage(t, boot.Options{Command: childCommand("ignore-term", "print=ready"), StopTimeout: 100 * time.Millisecond})
	// The program prints only after its signal handling is set up.
	require.Eventually(t, func() bool {
		data, _ := os.ReadFile(filepath.Join(s.dir, "child.log"))
		return strings.Contains(string(data), "ready")
	}, 10*time.Second, 10*time.Millisecond)

	st := s.mustCall(t, boot.OpStop)

	assert.Equal(t, "killed by signal killed", st.LastExit)
}

func TestASecondBootStageForTheSameDirectoryIsRefused(t *testing.T) {
	s := startStage(t, boot.Options{Command: childCommand()})

	err := boot.Run(t.Context(), boot.Options{StateDir: s.dir, Command: childCommand()})

	require.ErrorIs(t, err, boot.ErrRunning)
	assert.Equal(t, boot.StateRunning, s.mustCall(t, boot.OpStatus).State, "the first one is untouched")
}

func TestSIGTERMToTheBootStageStopsTheChild(t *testing.T) {
	dir := shortTempDir(t)
	parent := startParent(t, dir)
	st := waitRunning(t, dir)
	require.Equal(t, parent.Process.Pid, st.PID, "the socket is served by the process that was started")
	pid, err := os.ReadFile(boot.PIDPath(dir))
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(string(pid)), itoa(parent.Process.Pid))

	require.NoError(t, parent.Process.Signal(syscall.SIGTERM))

	require.NoError(t, parent.Wait(), "the boot stage exits 0 after its child")
	assert.False(t, alive(st.ChildPID), "the child is gone when the boot stage has exited")
	assert.NoFileExists(t, boot.SocketPath(dir))
}

func TestChildDiesWithAKilledBootStageAndANewOneTakesOver(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("PR_SET_PDEATHSIG is Linux's")
	}
	dir := shortTempDir(t)
	parent := startParent(t, dir)
	st := waitRunning(t, dir)

	require.NoError(t, parent.Process.Kill())
	_ = parent.Wait()

	require.Eventually(t, func() bool { return !alive(st.ChildPID) }, 10*time.Second, 10*time.Millisecond,
		"no orphaned node outlives its boot stage")
	_, err := boot.Call(t.Context(), dir, boot.OpStatus)
	require.ErrorIs(t, err, boot.ErrNotRunning, "the stale socket answers nobody")
	next := startParent(t, dir)
	st = waitRunning(t, dir)
	assert.Equal(t, next.Process.Pid, st.PID, "a new boot stage replaces the stale socket and PID file")
}

// startParent runs the test binary as a boot stage of dir whose child runs
// until SIGTERM, and kills it at cleanup if it still runs.
func startParent(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(supervisortest.Path())
	cmd.Env = append(os.Environ(), envParent+"="+dir, envChildArgs+"=print=ready")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func waitRunning(t *testing.T, dir string) boot.Status {
	t.Helper()
	var st boot.Status
	require.Eventually(t, func() bool {
		var err error
		st, err = boot.Call(t.Context(), dir, boot.OpStatus)
		return err == nil && st.State == boot.StateRunning
	}, 10*time.Second, 10*time.Millisecond)
	return st
}

func itoa(n int) string { return strconv.Itoa(n) }

// A child that exits with code 0 on its own stopped on purpose (cairnd
// does so once removed from the cluster): it is not restarted until asked.
func TestCleanExitIsNotRestarted(t *testing.T) {
	s := startStage(t, boot.Options{
		Command: childCommand("exit=0", "after=10ms"),
		Backoff: boot.Backoff{Initial: 5 * time.Millisecond, Max: 5 * time.Millisecond, MinUptime: time.Hour},
	})
	require.Eventually(t, func() bool { return s.mustCall(t, boot.OpStatus).State == boot.StateStopped },
		10*time.Second, 10*time.Millisecond)
	st := s.mustCall(t, boot.OpStatus)
	assert.Equal(t, "exited with code 0", st.LastExit)
	assert.Zero(t, st.Restarts)
	assert.Empty(t, s.log.durations("child backing off", "delay"), "no restart was scheduled")
}

// A child that exits with RebootExitCode asked to be started again (cairnd
// after a reboot through its API): it is, at once and every time, with no
// backoff and no count as a crash.
func TestRebootExitIsRestartedAtOnce(t *testing.T) {
	s := startStage(t, boot.Options{
		Command:        childCommand("exit=75", "after=10ms"),
		RebootExitCode: 75,
		// A crash would wait an hour: every restart seen is a reboot's.
		Backoff: boot.Backoff{Initial: time.Hour, Max: time.Hour, MinUptime: time.Hour},
	})
	require.Eventually(t, func() bool { return s.log.count("child asked to be restarted; starting it again") >= 3 },
		10*time.Second, 10*time.Millisecond)
	st := s.mustCall(t, boot.OpStatus)
	assert.Zero(t, st.Restarts, "a reboot is not a crash")
	assert.Empty(t, s.log.durations("child backing off", "delay"), "no backoff")
	assert.GreaterOrEqual(t, s.log.count("child started"), 3)
}

// Without RebootExitCode the same exit is a crash, as before.
func TestRebootExitCodeUnsetIsACrash(t *testing.T) {
	s := startStage(t, boot.Options{
		Command: childCommand("exit=75", "after=10ms"),
		Backoff: boot.Backoff{Initial: time.Hour, Max: time.Hour, MinUptime: time.Hour},
	})
	require.Eventually(t, func() bool { return s.mustCall(t, boot.OpStatus).State == boot.StateBackoff },
		10*time.Second, 10*time.Millisecond)
	st := s.mustCall(t, boot.OpStatus)
	assert.Equal(t, 1, st.Restarts)
	assert.Equal(t, "exited with code 75", st.LastExit)
}

// As a container's entrypoint (ExitWhenFinished), a child that finishes on
// its own ends the boot stage too, so that the container stops.
func TestExitWhenFinishedEndsTheBootStage(t *testing.T) {
	dir := shortTempDir(t)
	errc := make(chan error, 1)
	go func() {
		errc <- boot.Run(context.Background(), boot.Options{
			StateDir: dir, Command: childCommand("exit=0", "after=200ms"), ExitWhenFinished: true,
			Logger: slog.New(slog.DiscardHandler),
		})
	}()
	select {
	case err := <-errc:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("boot.Run went on after its child finished")
	}
	_, err := os.Stat(boot.PIDPath(dir))
	assert.ErrorIs(t, err, fs.ErrNotExist, "the PID file went with it")
}

// countingStarter is a Starter that records what it started and released.
type countingStarter struct {
	mu       sync.Mutex
	started  []int
	released []int
}

func (c *countingStarter) Start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = append(c.started, cmd.Process.Pid)
	return nil
}

func (c *countingStarter) Release(pid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = append(c.released, pid)
}

func (c *countingStarter) counts() (started, released []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.started), slices.Clone(c.released)
}

// Every child is started through Options.Starter and handed back to it
// once its exit status was collected (what PID 1's reaper needs to leave
// it alone), crash after crash.
func TestStarterStartsAndReleasesEveryChild(t *testing.T) {
	st := &countingStarter{}
	s := startStage(t, boot.Options{
		Command: childCommand("exit=1", "after=10ms"), Starter: st,
		Backoff: boot.Backoff{Initial: 5 * time.Millisecond, Max: 5 * time.Millisecond, MinUptime: time.Hour},
	})
	require.Eventually(t, func() bool {
		_, released := st.counts()
		return len(released) >= 3
	}, 10*time.Second, 10*time.Millisecond)
	s.stop(t)
	started, released := st.counts()
	assert.Equal(t, started, released, "each child released once, in order, after its exit")
	assert.Equal(t, s.log.count("child started"), len(started), "every start went through the starter")
}
