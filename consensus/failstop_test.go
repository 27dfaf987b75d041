package consensus

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests in this file arm each fault point on one node of a running
// cluster and check the fail-stop contract: the store stops by itself,
// Done is closed, Err names the cause, a write after it fails with
// ErrStopped, the others go on, and a restart recovers from disk.

// awaitStopped waits for s to stop by itself and returns its fatal error.
func awaitStopped(t *testing.T, s *Store) error {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the store did not stop on a fatal storage fault")
	}
	require.Error(t, s.Err(), "a store that stopped by itself names the cause")
	_, err := s.Put(ctxT(t), "T", "after-the-fault", nil)
	require.ErrorIs(t, err, ErrStopped)
	require.ErrorIs(t, err, s.Err(), "ErrStopped wraps the cause")
	return s.Err()
}

// restart closes a node that stopped by itself, opens it again on the same
// data directory and waits until it has caught up with rev.
func (c *testCluster) restart(nd *testNode, rev uint64) {
	c.t.Helper()
	c.stop(nd)
	c.start(nd)
	c.waitConverged(rev)
}

func TestLogWriteFaultStopsTheLeader(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	_, err := lead.store.Put(ctxT(t), "T", "before", []byte("1"))
	require.NoError(t, err)

	require.True(t, lead.store.InjectFault(Fault{Point: FaultLogWrite}))
	_, err = lead.store.Put(ctxT(t), "T", "x", []byte("2"), WithRequestID("w1"))
	require.ErrorIs(t, err, ErrStopped)
	require.ErrorIs(t, err, ErrOutcomeUnknown, "the writer is told to retry with its request id")
	cause := awaitStopped(t, lead.store)
	assert.ErrorIs(t, cause, ErrLogWrite)
	assert.ErrorIs(t, cause, ErrFaultInjected)
	assert.Contains(t, cause.Error(), "fault point logwrite")

	// The other two elect a leader and keep taking writes; the retry with
	// the same request ID is applied once.
	next := c.leader()
	require.NotEqual(t, lead, next)
	res, err := next.store.Put(ctxT(t), "T", "x", []byte("2"), WithRequestID("w1"))
	require.NoError(t, err)

	c.restart(lead, res.Revision)
	r, _, err := lead.store.Get(ctxT(t), "T", "x", Stale)
	require.NoError(t, err)
	assert.Equal(t, []byte("2"), r.Spec)
	assert.NoError(t, lead.store.Err(), "a reopened store starts clean")
}

func TestLogWriteFaultStopsAFollower(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	victim := c.followers(lead)[0]
	require.True(t, victim.store.InjectFault(Fault{Point: FaultLogWrite, After: 2}))
	var last uint64
	for i := 0; ; i++ {
		res, err := lead.store.Put(ctxT(t), "T", fmt.Sprint("k", i), nil)
		require.NoError(t, err, "a quorum without the victim takes every write")
		last = res.Revision
		if victim.store.Err() != nil && i >= 5 {
			break
		}
		require.Less(t, i, 100, "the fault point never fired")
	}
	cause := awaitStopped(t, victim.store)
	assert.ErrorIs(t, cause, ErrLogWrite)

	c.restart(victim, last)
	assert.Equal(t, lead.store.Revision(), victim.store.Revision())
}

func TestApplyFaultStopsTheNode(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	victim := c.followers(lead)[0]
	f, err := ParseFault("apply")
	require.NoError(t, err)
	require.True(t, victim.store.InjectFault(f))

	res, err := lead.store.Put(ctxT(t), "T", "x", []byte("1"))
	require.NoError(t, err)
	cause := awaitStopped(t, victim.store)
	assert.ErrorIs(t, cause, ErrFaultInjected)
	assert.Contains(t, cause.Error(), "fault point apply")
	assert.Contains(t, cause.Error(), "log index")
	assert.Less(t, victim.store.Revision(), res.Revision, "the entry it could not apply is not applied")

	// The log on disk is sound, so a restart applies the entry. The fault
	// fired once for this data directory and is not armed again.
	c.restart(victim, res.Revision)
	assert.FileExists(t, filepath.Join(victim.dir, "fault-apply.fired"))
	assert.False(t, victim.store.InjectFault(f), "a fault parsed from the environment fires once per data directory")
	r, _, err := victim.store.Get(ctxT(t), "T", "x", Stale)
	require.NoError(t, err)
	assert.Equal(t, []byte("1"), r.Spec)
}

// TestRestoreFaultStopsTheNode: a follower cut off while the leader
// compacts its log is sent a snapshot; failing to restore it stops the
// follower (raft alone would only refuse it, and be sent it again forever).
func TestRestoreFaultStopsTheNode(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) { cfg.TrailingLogs = 1 })
	lead := c.leader()
	victim := c.followers(lead)[0]
	c.net.partition([]string{victim.addr})
	var last uint64
	for i := range 20 {
		res, err := lead.store.Put(ctxT(t), "T", fmt.Sprint("k", i), nil)
		require.NoError(t, err)
		last = res.Revision
	}
	require.NoError(t, lead.store.Snapshot())
	require.True(t, victim.store.InjectFault(Fault{Point: FaultRestore}))
	c.net.heal()

	cause := awaitStopped(t, victim.store)
	assert.ErrorIs(t, cause, ErrCorrupt)
	assert.ErrorIs(t, cause, ErrFaultInjected)
	assert.Contains(t, cause.Error(), "restore snapshot")

	c.restart(victim, last)
	assert.Equal(t, lead.store.Revision(), victim.store.Revision())
}

func TestParseFault(t *testing.T) {
	for in, want := range map[string]Fault{
		"logwrite":          {Point: FaultLogWrite, OncePerDataDir: true},
		"logwrite-after:20": {Point: FaultLogWrite, After: 20, OncePerDataDir: true},
		"apply-after:0":     {Point: FaultApply, OncePerDataDir: true},
		"restore":           {Point: FaultRestore, OncePerDataDir: true},
	} {
		got, err := ParseFault(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "disk", "logwrite-after:", "logwrite-after:-1", "logwrite-after:x"} {
		_, err := ParseFault(in)
		assert.ErrorIs(t, err, ErrInvalid, in)
	}
}
