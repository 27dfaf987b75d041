package consensus

import (
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for peerHealth.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time                 { return c.t }
func (c *fakeClock) tick(d time.Duration) time.Time { c.t = c.t.Add(d); return c.t }

func obs(data any) *raft.Observation { return &raft.Observation{Data: data} }

// The order raft delivers these in when a dead voter is removed and later
// comes back: its old heartbeat loop reports a failure after the removal.
// The re-added server must not be marked failing forever (issue 9, item 1).
func TestPeerHealthIgnoresFailuresOfRemovedReplication(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	p := &peerHealth{now: clk.now}
	cp2 := raft.Server{ID: "cp2", Address: "127.0.0.2:6442"}

	p.observe(obs(raft.LeaderObservation{LeaderID: "cp3"}))
	lastSeen := clk.tick(time.Second)
	clk.tick(time.Second)
	p.observe(obs(raft.FailedHeartbeatObservation{PeerID: cp2.ID, LastContact: lastSeen}))
	_, failing := p.lastFailure(cp2.ID)
	require.True(t, failing, "a dead follower is failing")

	clk.tick(30 * time.Second)
	p.observe(obs(raft.PeerObservation{Peer: cp2, Removed: true}))
	// The old loop's last report, after the removal.
	p.observe(obs(raft.FailedHeartbeatObservation{PeerID: cp2.ID, LastContact: lastSeen}))
	_, failing = p.lastFailure(cp2.ID)
	assert.False(t, failing, "a late report of the removed replication is stale")

	// Re-added: the new loop heartbeats fine and so reports nothing.
	clk.tick(10 * time.Second)
	p.observe(obs(raft.PeerObservation{Peer: cp2}))
	_, failing = p.lastFailure(cp2.ID)
	assert.False(t, failing, "the re-added server is healthy")

	// A real failure of the new loop still counts.
	fresh := clk.tick(time.Second)
	clk.tick(time.Second)
	p.observe(obs(raft.FailedHeartbeatObservation{PeerID: cp2.ID, LastContact: fresh}))
	at, failing := p.lastFailure(cp2.ID)
	assert.True(t, failing)
	assert.Equal(t, fresh, at)
	p.observe(obs(raft.ResumedHeartbeatObservation{PeerID: cp2.ID}))
	_, failing = p.lastFailure(cp2.ID)
	assert.False(t, failing)
}

// Loops of an earlier leadership of this node may report after it leads
// again; every loop of the new leadership starts after the observation.
func TestPeerHealthIgnoresFailuresOfEarlierLeadership(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	p := &peerHealth{now: clk.now}
	p.observe(obs(raft.LeaderObservation{LeaderID: "cp1"}))
	old := clk.tick(time.Second)
	p.observe(obs(raft.LeaderObservation{}))
	clk.tick(time.Second)
	p.observe(obs(raft.LeaderObservation{LeaderID: "cp1"}))
	p.observe(obs(raft.FailedHeartbeatObservation{PeerID: "cp2", LastContact: old}))
	_, failing := p.lastFailure("cp2")
	assert.False(t, failing)
}

// A mark that no report renews has no heartbeat loop behind it any more.
func TestPeerHealthMarkLapsesWithoutReports(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	p := &peerHealth{now: clk.now, lapse: 5 * time.Second}
	p.observe(obs(raft.LeaderObservation{LeaderID: "cp1"}))
	seen := clk.tick(time.Second)
	for range 3 {
		clk.tick(2 * time.Second)
		p.observe(obs(raft.FailedHeartbeatObservation{PeerID: "cp2", LastContact: seen}))
		at, failing := p.lastFailure("cp2")
		require.True(t, failing, "renewed reports keep the mark")
		require.Equal(t, seen, at, "the mark keeps the contact before failures began")
	}
	clk.tick(6 * time.Second)
	_, failing := p.lastFailure("cp2")
	assert.False(t, failing)
}
