package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestClusterLifecycle drives the nodes of a 1+1 process cluster through
// their boot stages: restart, crash recovery, a killed boot stage, a cairnd
// started by hand, and a destroy that leaves nothing behind.
func TestClusterLifecycle(t *testing.T) {
	c := createCluster(t, "lc", 1, 1, "--timings", "fast")
	for _, n := range c.state.Nodes {
		require.True(t, n.Running, n.Name)
		require.Equal(t, "running", n.State, n.Name)
		require.NotZero(t, n.BootPID, "%s runs under its boot stage", n.Name)
		require.NotEqual(t, n.BootPID, n.PID, n.Name)
	}

	t.Run("restart cp1 runs a new cairnd under the same boot stage and it comes back", func(t *testing.T) {
		before := c.node("cp1")
		out, err := c.ctl("cluster", "restart", "cp1", "--name", c.name, "--wait")
		require.NoError(t, err, out)
		assert.Contains(t, out, "cp1: restarted: cairnd pid "+strconv.Itoa(before.PID)+" -> ")
		assert.Contains(t, out, "cp1: API answers")

		c.refresh()
		after := c.node("cp1")
		assert.True(t, after.Running)
		assert.NotEqual(t, before.PID, after.PID)
		assert.Equal(t, before.BootPID, after.BootPID)
		assert.Zero(t, after.Restarts, "a requested restart is not a crash")
		assert.False(t, alive(before.PID), "the old cairnd is gone")
		out, err = c.ctl("health", "--wait", "--wait-timeout", "30s")
		require.NoError(t, err, out)
	})

	t.Run("a SIGKILLed cairnd is restarted by its boot stage", func(t *testing.T) {
		before := c.node("worker1")
		require.NoError(t, syscall.Kill(before.PID, syscall.SIGKILL))

		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			c.refresh()
			now := c.node("worker1")
			assert.Equal(ct, "running", now.State)
			assert.NotEqual(ct, before.PID, now.PID)
			assert.Equal(ct, 1, now.Restarts)
		}, 20*time.Second, 100*time.Millisecond)
		assert.Equal(t, before.BootPID, c.node("worker1").BootPID)
		out, err := c.ctl("health", "--wait", "--wait-timeout", "30s")
		require.NoError(t, err, out)
	})

	t.Run("a killed boot stage takes its cairnd along and cluster start brings the node back", func(t *testing.T) {
		before := c.node("worker1")
		require.NoError(t, syscall.Kill(before.BootPID, syscall.SIGKILL))

		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			c.refresh()
			now := c.node("worker1")
			assert.Equal(ct, "down", now.State)
			assert.False(ct, now.Running)
		}, 20*time.Second, 100*time.Millisecond)
		assert.False(t, alive(before.PID), "no orphaned cairnd")

		out, err := c.ctl("cluster", "start", "--all", "--name", c.name, "--wait")
		require.NoError(t, err, out)
		assert.Contains(t, out, "cp1: already running")
		assert.Contains(t, out, "worker1: started boot stage pid")
		c.refresh()
		now := c.node("worker1")
		assert.True(t, now.Running)
		assert.NotEqual(t, before.BootPID, now.BootPID)
	})

	t.Run("destroy stops a cairnd started by hand and leaves no process of the cluster", func(t *testing.T) {
		out, err := c.ctl("cluster", "stop", "worker1", "--name", c.name)
		require.NoError(t, err, out)
		c.refresh()
		w := c.node("worker1")
		require.Equal(t, "stopped", w.State)
		require.False(t, w.Running)

		hand := startByHand(t, c, w)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			c.refresh()
			now := c.node("worker1")
			assert.True(ct, now.Running, "show reports the cairnd that runs outside the boot stage")
			assert.Equal(ct, []int{hand.cmd.Process.Pid}, now.Unsupervised)
		}, 20*time.Second, 100*time.Millisecond)

		out, err = c.ctl("cluster", "destroy", "--name", c.name)
		require.NoError(t, err, out)
		// cp1: boot stage and cairnd; worker1: boot stage (its cairnd is
		// stopped); and the one started by hand.
		assert.Contains(t, out, "stopped 4 processes (3 by shutting down 2 boot stages, 1 by signal)")
		select {
		case <-hand.done:
		case <-time.After(10 * time.Second):
			t.Fatal("the cairnd started by hand still runs after destroy")
		}
		assert.Empty(t, processesReferring(c.clusterDir()), "no process refers to the cluster's directory")
		assert.NoDirExists(t, c.clusterDir())
	})
}

// handStarted is a cairnd a test started itself, as an operator would.
type handStarted struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it exited and was reaped
}

// startByHand runs the node's cairnd with the flags its boot stage uses,
// but outside any boot stage.
func startByHand(t *testing.T, c *localCluster, n nodeState) *handStarted {
	t.Helper()
	log, err := os.OpenFile(n.LogFile, os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	defer log.Close()
	cmd := exec.Command(filepath.Join(bin, "cairnd"), "--config", filepath.Join(c.clusterDir(), "cluster.yaml"),
		"--name", n.Name, "--state-dir", n.StateDir, "--log-format", "text", "--timings", "fast")
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	h := &handStarted{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.done
	})
	return h
}

// processesReferring scans /proc for live processes whose command line
// mentions dir.
func processesReferring(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
