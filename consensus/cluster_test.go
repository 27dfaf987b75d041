package consensus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClusterWriteReadWatch(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	ctx := ctxT(t)

	w, err := lead.store.Watch(ctx, "Config", 0)
	require.NoError(t, err)

	res, err := lead.store.Create(ctx, "Config", "cluster", []byte(`{"a":1}`))
	require.NoError(t, err)
	_, err = lead.store.Put(ctx, "Other", "x", nil)
	require.NoError(t, err)
	res2, err := lead.store.Update(ctx, "Config", "cluster", []byte(`{"a":2}`), res.Resource.Version)
	require.NoError(t, err)

	got, rev, err := lead.store.Get(ctx, "Config", "cluster", Linearizable)
	require.NoError(t, err)
	assert.Equal(t, res2.Resource, got)
	assert.Equal(t, res2.Revision, rev)

	for _, want := range []Event{
		{Revision: res.Revision, Kind: EventCreated, Resource: res.Resource},
		{Revision: res2.Revision, Kind: EventUpdated, Resource: res2.Resource},
	} {
		select {
		case ev := <-w.Events():
			assert.Equal(t, want, ev)
		case <-ctx.Done():
			t.Fatal("watch event not delivered")
		}
	}

	// Every follower converges, and serves the same state stale; a
	// linearizable read on a follower is refused and names the leader.
	c.waitConverged(res2.Revision)
	for _, f := range c.followers(lead) {
		got, _, err := f.store.Get(ctx, "Config", "cluster", Stale)
		require.NoError(t, err)
		assert.Equal(t, res2.Resource, got)
		_, _, err = f.store.Get(ctx, "Config", "cluster", Linearizable)
		var nl *NotLeaderError
		require.ErrorAs(t, err, &nl)
		assert.Equal(t, lead.id, nl.LeaderID)
		_, err = f.store.Put(ctx, "Config", "cluster", nil)
		require.ErrorIs(t, err, ErrNotLeader)
	}

	// A watch from an old revision replays history across types.
	w2, err := c.followers(lead)[0].store.Watch(ctx, "", 1)
	require.NoError(t, err)
	for i := uint64(1); i <= 3; i++ {
		ev := <-w2.Events()
		assert.Equal(t, i, ev.Revision)
	}
}

func TestClusterCASConflictReturnsCurrentVersion(t *testing.T) {
	c := newCluster(t, 3, nil)
	s := c.leader().store
	ctx := ctxT(t)
	_, err := s.Create(ctx, "T", "x", []byte("1"))
	require.NoError(t, err)
	_, err = s.Update(ctx, "T", "x", []byte("2"), 1)
	require.NoError(t, err)

	_, err = s.Update(ctx, "T", "x", []byte("3"), 1)
	var ce *ConflictError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, uint64(2), ce.CurrentVersion)
	assert.Equal(t, "version conflict on T/x: expected version 1, current version 2", err.Error())

	_, err = s.Create(ctx, "T", "x", nil)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, uint64(2), ce.CurrentVersion)

	_, err = s.Delete(ctx, "T", "x", 1)
	require.ErrorAs(t, err, &ce)
	got, _, err := s.Get(ctx, "T", "x", Linearizable)
	require.NoError(t, err)
	assert.Equal(t, []byte("2"), got.Spec, "failed CAS writes change nothing")
}

func TestLeaderCrashAndReelection(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.leader()
	ctx := ctxT(t)
	before, err := old.store.Put(ctx, "T", "before", []byte("1"))
	require.NoError(t, err)

	c.stop(old)
	lead := c.leader()
	require.NotEqual(t, old.id, lead.id)
	got, _, err := lead.store.Get(ctx, "T", "before", Linearizable)
	require.NoError(t, err, "an acknowledged write survives the leader's crash")
	assert.Equal(t, before.Resource, got)
	after, err := lead.store.Put(ctx, "T", "after", []byte("2"))
	require.NoError(t, err)

	// The old leader restarts from disk, rejoins as follower and catches up.
	c.start(old)
	c.waitConverged(after.Revision)
	got, _, err = old.store.Get(ctx, "T", "after", Stale)
	require.NoError(t, err)
	assert.Equal(t, after.Resource, got)
}

func TestMinorityPartition(t *testing.T) {
	c := newCluster(t, 5, nil)
	old := c.leader()
	ctx := ctxT(t)
	_, err := old.store.Put(ctx, "T", "x", []byte("before"))
	require.NoError(t, err)

	// The old leader and one follower are cut off from the other three.
	minority := []string{old.addr, c.followers(old)[0].addr}
	c.net.partition(minority)

	var lead *testNode
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for _, nd := range c.nodes {
			if nd.store.IsLeader() && nd != old && nd.addr != minority[1] {
				lead = nd
				return
			}
		}
		ct.Errorf("no leader in the majority yet")
	}, 10*time.Second, 10*time.Millisecond)

	res, err := lead.store.Put(ctx, "T", "x", []byte("majority"))
	require.NoError(t, err, "the majority side keeps taking writes")

	// The minority cannot commit or serve linearizable reads; it may still
	// think it leads for a moment, so bound the attempt.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = old.store.Put(short, "T", "x", []byte("minority"))
	cancel()
	require.Error(t, err, "a minority leader must not commit")
	short, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
	_, _, err = old.store.Get(short, "T", "x", Linearizable)
	cancel()
	require.Error(t, err, "a minority node must not serve linearizable reads")

	c.net.heal()
	c.waitConverged(res.Revision)
	for _, nd := range c.nodes {
		got, _, err := nd.store.Get(ctx, "T", "x", Stale)
		require.NoError(t, err)
		assert.Equal(t, []byte("majority"), got.Spec, nd.id)
	}
}

func TestRequestIDDedupAcrossLeaderChange(t *testing.T) {
	c := newCluster(t, 3, nil)
	old := c.leader()
	ctx := ctxT(t)
	_, err := old.store.Create(ctx, "T", "x", []byte("v1"))
	require.NoError(t, err)

	// The leader commits the CAS, then "dies" before answering.
	rid := NewRequestID()
	old.store.dropNextAck.Store(true)
	_, err = old.store.Update(ctx, "T", "x", []byte("v2"), 1, WithRequestID(rid))
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	c.stop(old)

	// The client retries the same request on the new leader: it is answered
	// with the first outcome instead of conflicting or applying twice.
	lead := c.leader()
	res, err := lead.store.Update(ctx, "T", "x", []byte("v2"), 1, WithRequestID(rid))
	require.NoError(t, err)
	assert.True(t, res.Duplicate)
	assert.Equal(t, uint64(2), res.Resource.Version)

	got, rev, err := lead.store.Get(ctx, "T", "x", Linearizable)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), got.Version)
	assert.Equal(t, res.Revision, rev, "the retry did not write again")

	// Same ID, different command: refused rather than answered wrongly.
	_, err = lead.store.Put(ctx, "T", "y", nil, WithRequestID(rid))
	require.ErrorIs(t, err, ErrRequestIDReused)
}

func TestSnapshotInstallToLaggingFollower(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotThreshold = 100
		cfg.SnapshotInterval = 20 * time.Millisecond
		cfg.TrailingLogs = 10
	})
	lead := c.leader()
	ctx := ctxT(t)
	lag := c.followers(lead)[0]
	c.stop(lag)

	var last WriteResult
	for i := range 400 {
		var err error
		last, err = lead.store.Put(ctx, "T", fmt.Sprint("k", i%50), []byte(fmt.Sprint(i)))
		require.NoError(t, err)
	}
	require.NoError(t, lead.store.Snapshot())
	first, err := lead.store.logs.FirstIndex()
	require.NoError(t, err)
	require.Greater(t, first, uint64(50), "the leader compacted the entries the follower misses")

	c.start(lag)
	c.waitConverged(last.Revision)
	require.GreaterOrEqual(t, lag.store.fsm.restores.Load(), uint64(1), "caught up by snapshot install")
	want, _, err := lead.store.List(ctx, "T", Linearizable)
	require.NoError(t, err)
	got, _, err := lag.store.List(ctx, "T", Stale)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestLeaderHooks(t *testing.T) {
	c := newCluster(t, 3, nil)
	type evt struct {
		node    string
		leading bool
	}
	events := make(chan evt, 16)
	for _, nd := range c.nodes {
		nd.store.AddLeaderFunc(func(ctx context.Context) {
			// The barrier ran first: a write of the previous term is visible.
			events <- evt{nd.id, true}
			<-ctx.Done()
			events <- evt{nd.id, false}
		})
	}
	first := c.leader()
	require.Equal(t, evt{first.id, true}, <-events)

	_, err := first.store.Put(ctxT(t), "T", "x", []byte("1"))
	require.NoError(t, err)
	require.NoError(t, first.store.TransferLeadership(ctxT(t), ""))
	// The old leader's revoke and the new leader's establish happen on two
	// nodes, in no order between them.
	a, b := <-events, <-events
	if a.leading {
		a, b = b, a
	}
	require.Equal(t, evt{first.id, false}, a)
	next := b
	require.True(t, next.leading)
	require.NotEqual(t, first.id, next.node)
}

func TestMembershipChanges(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	ctx := ctxT(t)
	_, err := lead.store.Put(ctx, "T", "x", []byte("1"))
	require.NoError(t, err)

	// A fresh node joins as a non-voter, catches up, and is promoted.
	nd := &testNode{id: "n4", addr: nextAddr(), dir: t.TempDir()}
	c.nodes = append(c.nodes, nd)
	c.start(nd)
	has, err := nd.store.HasState()
	require.NoError(t, err)
	require.False(t, has)
	require.NoError(t, lead.store.AddNonvoter(ctx, nd.id, nd.addr))
	c.waitConverged(lead.store.Revision())
	require.NoError(t, lead.store.Promote(ctx, nd.id))

	st, err := lead.store.Status()
	require.NoError(t, err)
	assert.Equal(t, "Leader", st.State)
	assert.Equal(t, lead.id, st.LeaderID)
	require.Len(t, st.Servers, 4)
	for _, sv := range st.Servers {
		assert.Equal(t, Voter, sv.Suffrage, sv.ID)
	}
	assert.GreaterOrEqual(t, st.CommitIndex, st.AppliedIndex)

	// A node with state never bootstraps again.
	require.ErrorIs(t, nd.store.Bootstrap([]Server{{ID: nd.id, Address: nd.addr}}), ErrHasState)

	// Removal, and a leader-side view of a failing follower.
	require.NoError(t, lead.store.RemoveServer(ctx, nd.id))
	servers, err := lead.store.Servers()
	require.NoError(t, err)
	assert.Len(t, servers, 3)

	victim := c.followers(lead)[0]
	c.stop(victim)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st, err := lead.store.Status()
		require.NoError(ct, err)
		for _, sv := range st.Servers {
			if sv.ID == victim.id {
				assert.False(ct, sv.Healthy)
				assert.False(ct, sv.LastContact.IsZero())
			}
		}
	}, 10*time.Second, 20*time.Millisecond)
}

func TestBootstrapConcurrentSameList(t *testing.T) {
	// newCluster already has every node bootstrap with the same list; check
	// there is exactly one leader and every node agrees on the configuration.
	c := newCluster(t, 5, nil)
	lead := c.leader()
	want, err := lead.store.Servers()
	require.NoError(t, err)
	for _, nd := range c.nodes {
		got, err := nd.store.Servers()
		require.NoError(t, err)
		assert.ElementsMatch(t, want, got)
	}
	require.ErrorIs(t, lead.store.Bootstrap(want), ErrHasState)
}

func TestWriteValidationAndClosedStore(t *testing.T) {
	c := newCluster(t, 1, nil)
	s := c.leader().store
	_, err := s.Put(ctxT(t), "", "x", nil)
	require.ErrorIs(t, err, ErrInvalid)
	c.stop(c.nodes[0])
	_, err = s.Put(context.Background(), "T", "x", nil)
	require.True(t, errors.Is(err, ErrStopped), err)
}
