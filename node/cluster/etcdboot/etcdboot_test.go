package etcdboot

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/consensus"
)

func TestConcurrentDecideStoresExactlyOneRecord(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader()
	_, err := Get(ctxT(t), lead.store)
	require.ErrorIs(t, err, ErrNotDecided)

	const callers = 10
	got := make([]Record, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = Decide(ctxT(t), lead.store, member(fmt.Sprintf("cp%d", i)))
		}()
	}
	wg.Wait()

	winners := 0
	for i, err := range errs {
		var ee *ExistsError
		switch {
		case err == nil:
			winners++
		case errors.As(err, &ee):
			assert.Equal(t, got[i], ee.Record, "the error carries the record returned")
		default:
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	assert.Equal(t, 1, winners, "exactly one caller creates the record")
	stored, err := Get(ctxT(t), lead.store)
	require.NoError(t, err)
	for i := range callers {
		assert.Equal(t, stored.ClusterToken, got[i].ClusterToken, "caller %d sees the stored token", i)
		assert.Equal(t, stored, got[i])
	}
	assert.Equal(t, uint64(1), stored.Generation)
	require.Len(t, stored.InitialMembers, 1)
	assert.Equal(t, stored.DecidedBy, stored.InitialMembers[0].Name, "the decider is the only initial member")
	assert.True(t, stored.IsInitialMember(stored.DecidedBy, stored.InitialMembers[0].StateID))
	assert.False(t, stored.IsInitialMember(stored.DecidedBy+"x", ""))
	rs := records(t, lead.store)
	require.Len(t, rs, 1)
	assert.Equal(t, uint64(1), rs[0].Version, "one write, ever")
}

func TestDecideAfterLeaderChangeFindsTheRecord(t *testing.T) {
	c := newCluster(t, 3)
	first := c.leader()
	rec, err := Decide(ctxT(t), first.store, member(first.id))
	require.NoError(t, err)

	// Hand leadership over: the new leader decides again, as its leader
	// hook would, and must find the record, not write a second.
	require.NoError(t, first.store.TransferLeadership(ctxT(t), ""))
	second := c.leader()
	require.NotEqual(t, first.id, second.id)
	again, err := Decide(ctxT(t), second.store, member(second.id))
	var ee *ExistsError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, rec, ee.Record)
	assert.Equal(t, rec, again)

	// Stop that leader: the last one left with a quorum finds it too.
	c.stop(second)
	third := c.leader()
	again, err = Decide(ctxT(t), third.store, member(third.id))
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, rec.ClusterToken, again.ClusterToken)
	assert.Equal(t, first.id, again.DecidedBy)

	rs := records(t, third.store)
	require.Len(t, rs, 1)
	assert.Equal(t, uint64(1), rs[0].Version)
}

func TestDecideOnFollowerIsRefusedNamingTheLeader(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader()
	f := c.follower(lead)
	_, err := Decide(ctxT(t), f.store, member(f.id))
	require.ErrorIs(t, err, consensus.ErrNotLeader)
	var nl *consensus.NotLeaderError
	require.ErrorAs(t, err, &nl)
	assert.Equal(t, lead.id, nl.LeaderID)
	assert.Empty(t, records(t, lead.store), "a refused decision writes nothing")
}

func TestDecideRetryAfterUnknownOutcomeIsItsOwnRecord(t *testing.T) {
	c := newCluster(t, 1)
	s := &dropFirstAck{Store: c.leader().store}
	rec, err := Decide(ctxT(t), s, member("n1"))
	require.NoError(t, err, "the retry with the same request id returns the first write's outcome")
	require.True(t, s.dropped)
	stored, err := Get(ctxT(t), s)
	require.NoError(t, err)
	assert.Equal(t, stored, rec)
	assert.Equal(t, uint64(1), stored.Version)
}

func TestRecoverIsCompareAndSetOnGeneration(t *testing.T) {
	c := newCluster(t, 1)
	s := c.leader().store
	_, err := Recover(ctxT(t), s, 1, []Member{member("n1")}, "n1", nil)
	require.ErrorIs(t, err, ErrNotDecided)

	first, err := Decide(ctxT(t), s, member("n1"))
	require.NoError(t, err)
	next, err := Recover(ctxT(t), s, 1, []Member{member("n1"), {Name: "n2", PeerURL: "https://127.0.0.2:2380"}}, "n1", nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), next.Generation)
	assert.NotEqual(t, first.ClusterToken, next.ClusterToken, "a new generation gets a new token")
	assert.Len(t, next.InitialMembers, 2)

	_, err = Recover(ctxT(t), s, 1, []Member{member("n1")}, "n1", nil)
	var se *StaleGenerationError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, uint64(1), se.Expected)
	assert.Equal(t, next, se.Current)
	stored, err := Get(ctxT(t), s)
	require.NoError(t, err)
	assert.Equal(t, next, stored, "a stale recovery changes nothing")

	_, err = Recover(ctxT(t), s, 2, nil, "n1", nil)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = Recover(ctxT(t), s, 2, []Member{{Name: "n1", PeerURL: "http://127.0.0.1:2380"}}, "n1", nil)
	require.ErrorIs(t, err, ErrInvalid, "etcd peers speak TLS only")
}

func TestConcurrentRecoverFromOneGenerationHasOneWinner(t *testing.T) {
	c := newCluster(t, 1)
	s := c.leader().store
	_, err := Decide(ctxT(t), s, member("n1"))
	require.NoError(t, err)
	const callers = 5
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Recover(ctxT(t), s, 1, []Member{member(fmt.Sprintf("cp%d", i))}, "n1", nil)
		}()
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		if err == nil {
			winners++
			continue
		}
		var se *StaleGenerationError
		require.ErrorAs(t, err, &se, "caller %d", i)
	}
	assert.Equal(t, 1, winners)
	stored, err := Get(ctxT(t), s)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), stored.Generation)
	assert.Equal(t, uint64(2), stored.Version)
}

func TestRecoverRetryAfterUnknownOutcomeIsItsOwnWrite(t *testing.T) {
	c := newCluster(t, 1)
	_, err := Decide(ctxT(t), c.leader().store, member("n1"))
	require.NoError(t, err)
	s := &dropFirstAck{Store: c.leader().store}
	rec, err := Recover(ctxT(t), s, 1, []Member{member("n1")}, "n1", nil)
	require.NoError(t, err)
	require.True(t, s.dropped)
	stored, err := Get(ctxT(t), s)
	require.NoError(t, err)
	assert.Equal(t, stored, rec)
	assert.Equal(t, uint64(2), stored.Generation)
}

func TestRecordSurvivesRestart(t *testing.T) {
	c := newCluster(t, 1)
	nd := c.leader()
	rec, err := Decide(ctxT(t), nd.store, member("n1"))
	require.NoError(t, err)
	c.stop(nd)
	c.start(nd)
	c.leader()
	got, err := Get(ctxT(t), nd.store)
	require.NoError(t, err)
	assert.Equal(t, rec, got)
	_, err = Decide(ctxT(t), nd.store, member("n1"))
	var ee *ExistsError
	require.ErrorAs(t, err, &ee, "a restarted node never decides again")

	// From a snapshot plus the log after it: generation 1 in the snapshot,
	// generation 2 in the log.
	require.NoError(t, nd.store.Snapshot())
	next, err := Recover(ctxT(t), nd.store, 1, []Member{member("n1")}, "n1", nil)
	require.NoError(t, err)
	c.stop(nd)
	c.start(nd)
	c.leader()
	got, err = Get(ctxT(t), nd.store)
	require.NoError(t, err)
	assert.Equal(t, next, got)
	_, err = Decide(ctxT(t), nd.store, member("n1"))
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, next, ee.Record)
}

// TestDecideRacingLeaderTransfersStoresOneRecord has deciders on every node
// racing two leadership transfers: each keeps asking the nodes in turn until
// it learns the record. The interleaving is whatever the scheduler makes of
// it (the log shows how many calls were refused); however the writes land,
// there is one record, written once, and every decider learns its token.
func TestDecideRacingLeaderTransfersStoresOneRecord(t *testing.T) {
	c := newCluster(t, 3)
	ctx := ctxT(t)
	const callers = 6
	got := make([]Record, callers)
	errs := make([]error, callers)
	var refused atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i], errs[i] = decideSomewhere(ctx, c.nodes, i, &refused)
		}()
	}
	transfers := make(chan error, 1)
	go func() {
		var err error
		for range 2 {
			lead := c.leader()
			if err = lead.store.TransferLeadership(ctx, ""); err != nil {
				break
			}
		}
		transfers <- err
	}()
	close(start)
	wg.Wait()
	require.NoError(t, <-transfers)
	t.Logf("calls refused or with unknown outcome: %d", refused.Load())

	lead := c.leader()
	stored, err := Get(ctx, lead.store)
	require.NoError(t, err)
	for i := range callers {
		require.NoError(t, errs[i], "caller %d", i)
		assert.Equal(t, stored.ClusterToken, got[i].ClusterToken, "caller %d", i)
	}
	rs := records(t, lead.store)
	require.Len(t, rs, 1)
	assert.Equal(t, uint64(1), rs[0].Version, "one write, ever")
}

// decideSomewhere calls Decide on the nodes in turn, from nodes[first],
// until one answers with the record (its own or the existing one). A
// refusal (not the leader, or a leader not yet serving reads) or an unknown
// outcome sends it to the next node after a short pause, so an election in
// progress is not spun on.
func decideSomewhere(ctx context.Context, nodes []*testNode, first int, refused *atomic.Int64) (Record, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := first; ; i++ {
		nd := nodes[i%len(nodes)]
		rec, err := Decide(ctx, nd.store, member(nd.id))
		var ee *ExistsError
		if err == nil || errors.As(err, &ee) {
			return rec, nil
		}
		if !errors.Is(err, consensus.ErrNotLeader) && !errors.Is(err, consensus.ErrOutcomeUnknown) {
			return Record{}, err
		}
		refused.Add(1)
		select {
		case <-ctx.Done():
			return Record{}, fmt.Errorf("no record learned: %w (last: %w)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// A member named with a state ID is the initial member only in that state:
// the same node after a reset (a new state ID) must join, not start anew.
func TestInitialMemberIsTiedToItsState(t *testing.T) {
	r := Record{InitialMembers: []Member{{Name: "cp1", PeerURL: "https://10.0.0.1:2380", StateID: "s1"}}}
	assert.True(t, r.IsInitialMember("cp1", "s1"))
	assert.False(t, r.IsInitialMember("cp1", "s2"), "a wiped cp1 is not the initial member")
	assert.False(t, r.IsInitialMember("cp2", "s1"))
	old := Record{InitialMembers: []Member{{Name: "cp1", PeerURL: "https://10.0.0.1:2380"}}}
	assert.True(t, old.IsInitialMember("cp1", "any"), "a record without state IDs names the node")
}

// A recovered generation remembers the hashes of earlier tokens (so a
// member's old data is known to be this cluster's) and names the snapshot
// its one initial member restores.
func TestRecoverFromASnapshotKeepsTheOldTokensHashes(t *testing.T) {
	s := newCluster(t, 1).leader().store
	first, err := Decide(ctxT(t), s, member("n1"))
	require.NoError(t, err)
	snap := &Snapshot{Node: "n1", SHA256: "abc", Size: 10}
	_, err = Recover(ctxT(t), s, 1, []Member{member("n1"), {Name: "n2", PeerURL: "https://127.0.0.2:2380"}}, "n1", snap)
	require.ErrorIs(t, err, ErrInvalid, "a restore has one member, the snapshot's holder")
	second, err := Recover(ctxT(t), s, 1, []Member{member("n1")}, "n1", snap)
	require.NoError(t, err)
	assert.Equal(t, []string{TokenHash(first.ClusterToken)}, second.PreviousTokenHashes)
	assert.Equal(t, snap, second.RestoreFrom)
	third, err := Recover(ctxT(t), s, 2, []Member{member("n1")}, "n1", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{TokenHash(first.ClusterToken), TokenHash(second.ClusterToken)}, third.PreviousTokenHashes)
	assert.Nil(t, third.RestoreFrom)
	stored, err := Get(ctxT(t), s)
	require.NoError(t, err)
	assert.Equal(t, third, stored)
}
