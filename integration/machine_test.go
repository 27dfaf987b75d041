package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// TestMachinePower drives the power RPCs on a 3+1 process cluster: a
// reboot restarts a control plane's cairnd, which rejoins with its Raft
// state; a reset wipes one, which leaves Raft first and comes back as a
// new member; a shutdown stops the worker's cairnd for good, until
// 'cluster start'. Each subtest leaves the cluster healthy.
func TestMachinePower(t *testing.T) {
	c := createCluster(t, "pw", 3, 1, "--timings", "fast")
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpPowerLogs()
		}
	})

	t.Run("reboot -n cp2 --wait restarts its cairnd, which rejoins with its state", func(t *testing.T) {
		before := c.node("cp2")
		boot := c.bootID(t, "cp2")
		stateID := readStateID(t, before)
		st, err := c.consensusStatus(c.node("cp1").APIAddress)
		require.NoError(t, err)
		raftID := serverID(st, "cp2")
		require.Equal(t, "cp2."+stateID, raftID)

		out, err := c.ctl("-n", "cp2", "reboot", "--wait", "--wait-timeout", "90s")
		require.NoError(t, err, out)
		assert.Contains(t, out, "cp2: reboot requested (boot "+boot[:8]+")")
		assert.Contains(t, out, "cp2: back after")

		c.refresh()
		after := c.node("cp2")
		assert.NotEqual(t, before.PID, after.PID, "a new cairnd")
		assert.Equal(t, before.BootPID, after.BootPID, "under the same boot stage")
		assert.Zero(t, after.Restarts, "a reboot is not a crash")
		assert.NotEqual(t, boot, c.bootID(t, "cp2"))
		assert.Equal(t, stateID, readStateID(t, after), "same state")
		st, err = c.consensusStatus(c.node("cp1").APIAddress)
		require.NoError(t, err)
		requireVoter(t, st, raftID)
	})

	t.Run("reset -n cp3 --wait leaves raft, wipes and comes back as a new member", func(t *testing.T) {
		before := c.node("cp3")
		oldState := readStateID(t, before)

		out, err := c.ctl("-n", "cp3", "reset", "--wait", "--wait-timeout", "90s")
		require.NoError(t, err, out)
		assert.Contains(t, out, "cp3: reset requested")
		assert.Contains(t, out, "left raft, left gossip, wiping state "+oldState)
		assert.Contains(t, out, "cp3: back after")

		c.refresh()
		after := c.node("cp3")
		newState := readStateID(t, after)
		assert.NotEqual(t, oldState, newState, "a new state ID")
		st, err := c.consensusStatus(c.node("cp1").APIAddress)
		require.NoError(t, err)
		requireVoter(t, st, "cp3."+newState)
		for _, sv := range st.Servers {
			assert.NotEqual(t, "cp3."+oldState, sv.Id, "the old server is gone")
		}
		assert.Len(t, st.Servers, 3)
		log, err := os.ReadFile(after.LogFile)
		require.NoError(t, err)
		assert.Contains(t, string(log), "reset: left raft", "it left before the wipe, not by the autopilot's cleanup")
	})

	t.Run("a graceful reset that would lose quorum is refused and wipes nothing", func(t *testing.T) {
		st, err := c.consensusStatus(c.node("cp1").APIAddress)
		require.NoError(t, err)
		leader := c.node(st.LeaderName)
		var others []string
		for _, n := range c.byRole("controlplane") {
			if n.Name != leader.Name {
				others = append(others, n.Name)
			}
		}
		victim, target := c.node(others[0]), c.node(others[1])
		out, err := c.ctl("-n", victim.Name, "shutdown")
		require.NoError(t, err, out)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			st, err := c.consensusStatus(leader.APIAddress)
			require.NoError(ct, err)
			for _, sv := range st.Servers {
				if sv.Name == victim.Name {
					assert.Equal(ct, clusterv1.ServerHealth_SERVER_HEALTH_FAILING, sv.Health, "the leader no longer reaches %s", victim.Name)
				}
			}
		}, 30*time.Second, 100*time.Millisecond)
		stateID := readStateID(t, target)

		out, err = c.ctl("-n", target.Name, "reset")
		require.Error(t, err, out)
		assert.Contains(t, out, "failed_precondition")
		// etcd is left first, and its quorum is the first to refuse (the
		// Raft leave behind it would refuse the same way).
		assert.Contains(t, out, "reset refused, nothing changed")
		assert.Contains(t, out, "would break etcd quorum")
		c.refresh()
		assert.Equal(t, target.PID, c.node(target.Name).PID, "still running")
		assert.Equal(t, stateID, readStateID(t, target), "not wiped")

		out, err = c.ctl("cluster", "start", victim.Name, "--name", c.name, "--wait")
		require.NoError(t, err, out)
		c.requireHealthy(t)
	})

	t.Run("shutdown -n worker1 stops its cairnd until cluster start", func(t *testing.T) {
		before := c.node("worker1")
		out, err := c.ctl("-n", "worker1", "shutdown")
		require.NoError(t, err, out)
		assert.Contains(t, out, "worker1: shutdown requested")

		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			c.refresh()
			now := c.node("worker1")
			assert.Equal(ct, "stopped", now.State, "the boot stage reports it stopped")
			assert.False(ct, now.Running)
		}, 30*time.Second, 100*time.Millisecond)
		assert.False(t, alive(before.PID), "its cairnd exited")
		assert.Equal(t, before.BootPID, c.node("worker1").BootPID, "the boot stage stays")

		out, err = c.ctl("cluster", "start", "worker1", "--name", c.name, "--wait")
		require.NoError(t, err, out)
		c.requireHealthy(t)
	})
}

// bootID is a node's current boot ID, from cairnctl version.
func (c *localCluster) bootID(t *testing.T, node string) string {
	t.Helper()
	out, err := c.ctl("-n", node, "version", "-o", "json")
	require.NoError(t, err, out)
	var v struct {
		Nodes []struct {
			BootID string `json:"bootId"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	require.Len(t, v.Nodes, 1, out)
	require.NotEmpty(t, v.Nodes[0].BootID, out)
	return v.Nodes[0].BootID
}

// readStateID reads the ID of a node's state from its state directory.
func readStateID(t *testing.T, n nodeState) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(n.StateDir, "state-id"))
	require.NoError(t, err)
	return strings.TrimSpace(string(data))
}

func requireVoter(t *testing.T, st *clusterv1.ConsensusStatusResponse, id string) {
	t.Helper()
	for _, sv := range st.Servers {
		if sv.Id == id {
			assert.Equal(t, clusterv1.RaftSuffrage_RAFT_SUFFRAGE_VOTER, sv.Suffrage, id)
			return
		}
	}
	t.Errorf("%s is not a raft server: %v", id, st.Servers)
}

// dumpPowerLogs logs each node's lines about power requests, stops and
// starts, for a failed run.
func (c *localCluster) dumpPowerLogs() {
	logs, _ := filepath.Glob(filepath.Join(c.clusterDir(), "logs", "*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		var keep []string
		for _, line := range strings.Split(string(data), "\n") {
			for _, m := range []string{"power", "reset", "wipe", "cairnd:", "child", "shutting down", "starting cairnd", "serving node API", "left", "removing server"} {
				if strings.Contains(line, m) {
					keep = append(keep, line)
					break
				}
			}
		}
		c.t.Logf("--- %s\n%s", l, strings.Join(keep, "\n"))
	}
}
