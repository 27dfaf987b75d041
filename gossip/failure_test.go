package gossip

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDeadMemberDetected: a node that stops without leaving is marked dead
// in every other member's view, with a time of death after it stopped, and
// stays visible with its last metadata while the survivors stay alive to
// each other. How fast that happens, against Config.FailureDetectionTime,
// is BenchmarkFailureDetection's to report: a loaded machine stretches it.
func TestDeadMemberDetected(t *testing.T) {
	c := newTestCluster(t, "dead", "key a")
	seed := c.add("cp-0", nil)
	c.grow("n", 4, seed)
	requireConverged(t, c.nodes)
	victim, survivors := c.nodes[2], append(c.nodes[:2:2], c.nodes[3:]...)

	stopped := time.Now()
	require.NoError(t, victim.Close())
	requireDeadEverywhere(t, survivors, victim.Name())

	for _, n := range survivors {
		m, _ := n.Member(victim.Name())
		require.Equal(t, StateDead, m.State)
		require.False(t, m.Since.Before(stopped), "%s recorded the death before the stop", n.Name())
		require.Positive(t, m.DownFor(time.Now()))
		require.Equal(t, "v0.1.0", m.Meta.Version, "the last metadata stays with the dead")
	}
	require.True(t, allSeeAlive(survivors, 4))
}

// requireDeadEverywhere waits until every node in nodes sees name dead.
func requireDeadEverywhere(t testing.TB, nodes []*Node, name string) {
	t.Helper()
	require.Eventually(t, func() bool { return deadEverywhere(nodes, name) }, convergeTimeout, tick,
		"%s not dead in every view: %s", name, viewSummary(nodes))
}

func deadEverywhere(nodes []*Node, name string) bool {
	for _, n := range nodes {
		if m, ok := n.Member(name); !ok || m.State != StateDead {
			return false
		}
	}
	return true
}

// TestLeaveShowsLeft: a node that leaves is StateLeft, not StateDead, in
// every other view, so a leader can act on it without a grace period.
func TestLeaveShowsLeft(t *testing.T) {
	c := newTestCluster(t, "leave", "key a")
	seed := c.add("cp-0", nil)
	c.grow("n", 3, seed)
	requireConverged(t, c.nodes)
	leaver, stayers := c.nodes[3], c.nodes[:3]

	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	require.NoError(t, leaver.Leave(ctx))
	require.NoError(t, leaver.Close())
	require.Eventually(t, func() bool {
		for _, n := range stayers {
			if m, _ := n.Member(leaver.Name()); m.State != StateLeft {
				return false
			}
		}
		return true
	}, convergeTimeout, tick)
	m, _ := leaver.Member(leaver.Name())
	require.Equal(t, StateLeft, m.State, "the leaver sees itself left")
}

// TestRestartedNodeRejoins: a node that died and comes back under the same
// name and address is alive again everywhere (memberlist makes it refute
// its own death).
func TestRestartedNodeRejoins(t *testing.T) {
	c := newTestCluster(t, "restart", "key a")
	seed := c.add("cp-0", nil)
	c.grow("n", 2, seed)
	cfg := c.config("phoenix")
	cfg.BindPort = freePort(t, cfg.BindAddr)
	first := c.start(cfg)
	join(t, first, seed)
	requireConverged(t, c.nodes)

	require.NoError(t, first.Close())
	c.nodes = c.nodes[:3]
	require.Eventually(t, func() bool {
		m, _ := seed.Member("phoenix")
		return m.State == StateDead
	}, convergeTimeout, tick)

	join(t, c.start(cfg), seed)
	requireConverged(t, c.nodes)
}

// TestLeftNodeContactsNobody: after Leave the node, still open until its
// process stops, neither reconnects (a push/pull would rejoin it) nor
// depends on memberlist's entry for itself, which memberlist reaps a while
// after the leave (reading it then crashed a node being reset).
func TestLeftNodeContactsNobody(t *testing.T) {
	c := newTestCluster(t, "left", "key a")
	seed := c.add("cp-0", nil)
	c.grow("n", 2, seed)
	requireConverged(t, c.nodes)
	leaver, stayers := c.nodes[2], c.nodes[:2]
	addr := leaver.Addr()

	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	require.NoError(t, leaver.Leave(ctx))
	require.Eventually(t, func() bool {
		for _, n := range stayers {
			if m, _ := n.Member(leaver.Name()); m.State != StateLeft {
				return false
			}
		}
		return true
	}, convergeTimeout, tick)

	// A member of nobody's view: Reconnect would contact it (and rejoin
	// the leaver to it) if a node that left reconnected.
	lone := c.add("lone", nil)
	require.Zero(t, leaver.Reconnect([]string{lone.Addr()}, 3), "a node that left contacts nobody")
	_, joined := lone.Member(leaver.Name())
	require.False(t, joined)
	require.Equal(t, addr, leaver.Addr())
}
