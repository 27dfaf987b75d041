package etcdmembers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/cairn-project/cairn/node/cluster/etcdboot"
)

var (
	cp1 = node("cp1", "s1", "127.0.1.1")
	cp2 = node("cp2", "s2", "127.0.1.2")
	cp3 = node("cp3", "s3", "127.0.1.3")
)

func TestFirstPassDecidesAndRecordsTheBootstrapMember(t *testing.T) {
	e := newEnv(t, cp1, cp2)
	c := e.coordinator(cp1, "")
	require.ErrorIs(t, e.pass(c), errUnavailable, "no etcd runs before the record names its member")

	boot := e.boot()
	assert.True(t, boot.IsInitialMember("cp1", "s1"))
	assert.False(t, boot.IsInitialMember("cp1", "s1-reset"))
	rec := e.record()
	assert.Equal(t, boot.Generation, rec.Generation)
	assert.Equal(t, []Member{{Name: "cp1", StateID: "s1", PeerURL: cp1.PeerURL, ClientURL: cp1.ClientURL}}, rec.Members)
	assert.False(t, rec.HasMember("cp1", "s1"), "the bootstrap member starts as new, not from this record")

	id := e.etcd.bootstrap("cp1", cp1.PeerURL, cp1.ClientURL)
	require.NoError(t, e.pass(c))
	rec = e.record()
	require.Len(t, rec.Members, 2)
	assert.Equal(t, id, rec.Members[0].ID, "the bootstrap member's ID is observed")
	assert.Equal(t, uint64(0xc1), rec.ClusterID)
	_, learners := kinds(rec)
	assert.Equal(t, []string{"cp2"}, learners, "cp2 is added in the same pass, once etcd answers")
}

// A new leader after a crash between the bootstrap decision and the
// membership record writes the record from the decision, naming the member
// the old leader chose (not itself).
func TestNewLeaderAfterDecideWritesTheDecidedMembers(t *testing.T) {
	e := newEnv(t, cp1, cp2)
	require.ErrorIs(t, e.pass(e.coordinator(cp1, FaultAfterDecide)), errCrash)
	_, err := Get(ctxT(t), e.store)
	require.ErrorIs(t, err, ErrNoRecord)

	require.ErrorIs(t, e.pass(e.coordinator(cp2, "")), errUnavailable)
	rec := e.record()
	require.Len(t, rec.Members, 1)
	assert.Equal(t, "cp1", rec.Members[0].Name)
	assert.Equal(t, cp1.ClientURL, rec.Members[0].ClientURL, "from the view")
	assert.True(t, e.boot().IsInitialMember("cp1", "s1"))
}

func TestJoinAddsOneLearnerAtATimeAndPromotesIt(t *testing.T) {
	e, c := bootstrapped(t, cp1, cp2, cp3)
	rec := e.settle(c, 5)
	voters, learners := kinds(rec)
	assert.Equal(t, []string{"cp1"}, voters)
	assert.Equal(t, []string{"cp2"}, learners, "one learner; cp3 waits")
	assert.True(t, rec.HasMember("cp2", "s2"), "the learner's node finds its entry and starts as existing")
	assert.Nil(t, rec.Pending)

	e.etcd.start("cp2", cp2.PeerURL, cp2.ClientURL, false)
	rec = e.settle(c, 5)
	_, learners = kinds(rec)
	assert.Equal(t, []string{"cp2"}, learners, "a learner behind the leader's log is not promoted")

	e.etcd.catchUp(e.etcd.byName("cp2").ID)
	require.NoError(t, e.pass(c))
	voters, learners = kinds(e.record())
	assert.Equal(t, []string{"cp1", "cp2"}, voters)
	assert.Empty(t, learners, "promotion and the next add are two passes")

	rec = e.settle(c, 5)
	_, learners = kinds(rec)
	assert.Equal(t, []string{"cp3"}, learners)
	e.etcd.start("cp3", cp3.PeerURL, cp3.ClientURL, true)
	rec = e.settle(c, 5)
	voters, learners = kinds(rec)
	assert.Equal(t, []string{"cp1", "cp2", "cp3"}, voters)
	assert.Empty(t, learners)

	_, ops := e.etcd.snapshot()
	assert.Len(t, ops, 4, "each change sent once: %v", ops)
	assertMatchesEtcd(t, e, rec)
}

// assertMatchesEtcd checks the record lists exactly etcd's members.
func assertMatchesEtcd(t *testing.T, e *env, rec Record) {
	t.Helper()
	list, _ := e.etcd.snapshot()
	require.Len(t, rec.Members, len(list))
	for _, em := range list {
		i := -1
		for j, m := range rec.Members {
			if m.ID == em.ID {
				i = j
			}
		}
		require.GreaterOrEqual(t, i, 0, "member %x recorded", em.ID)
		assert.Equal(t, em.Learner, rec.Members[i].Learner)
		if em.Name != "" { // a learner not started has no name in etcd
			assert.Equal(t, em.Name, rec.Members[i].Name)
		}
	}
}

// threeVoters is a bootstrapped env with cp1..cp3 all voters.
func threeVoters(t *testing.T) (*env, *Coordinator) {
	e, c := bootstrapped(t, cp1, cp2, cp3)
	for _, n := range []Node{cp2, cp3} {
		e.settle(c, 5)
		e.etcd.start(n.Name, n.PeerURL, n.ClientURL, true)
	}
	rec := e.settle(c, 5)
	voters, _ := kinds(rec)
	require.Equal(t, []string{"cp1", "cp2", "cp3"}, voters)
	return e, c
}

func TestDeadMemberRemovedOnlyAfterGrace(t *testing.T) {
	e, c := threeVoters(t)
	dead := cp3
	dead.Alive, dead.DeadSince = false, e.now
	e.view.set(dead)
	e.etcd.setDown(e.etcd.byName("cp3").ID, true)

	e.now = e.now.Add(29 * time.Second)
	voters, _ := kinds(e.settle(c, 3))
	assert.Equal(t, []string{"cp1", "cp2", "cp3"}, voters, "dead within the grace period")

	e.now = e.now.Add(2 * time.Second)
	rec := e.settle(c, 3)
	voters, _ = kinds(rec)
	assert.Equal(t, []string{"cp1", "cp2"}, voters)
	assertMatchesEtcd(t, e, rec)
}

func TestQuorumGuardKeepsMembersTheClusterCannotSpare(t *testing.T) {
	e, c := threeVoters(t)
	for _, n := range []Node{cp2, cp3} {
		dead := n
		dead.Alive, dead.DeadSince = false, e.now
		e.view.set(dead)
		e.etcd.setDown(e.etcd.byName(n.Name).ID, true)
	}
	e.now = e.now.Add(time.Hour)
	rec := e.settle(c, 3)
	voters, _ := kinds(rec)
	assert.Equal(t, []string{"cp1", "cp2", "cp3"}, voters,
		"removing one of two dead voters leaves 1 healthy of 2: below a majority")
	_, ops := e.etcd.snapshot()
	assert.Len(t, ops, 4, "no removal sent: %v", ops)

	// One comes back: now the other dead one can go (2 healthy of 2 left).
	e.view.set(cp2)
	e.etcd.setDown(e.etcd.byName("cp2").ID, false)
	rec = e.settle(c, 3)
	voters, _ = kinds(rec)
	assert.Equal(t, []string{"cp1", "cp2"}, voters)
}

// Two voters, one dead: etcd has no quorum, so no removal can commit, and
// none is recorded (it would only hold the change slot).
func TestNoRemovalWithoutQuorumNow(t *testing.T) {
	e, c := bootstrapped(t, cp1, cp2)
	e.settle(c, 3)
	e.etcd.start("cp2", cp2.PeerURL, cp2.ClientURL, true)
	voters, _ := kinds(e.settle(c, 3))
	require.Equal(t, []string{"cp1", "cp2"}, voters)
	dead := cp2
	dead.Alive, dead.DeadSince = false, e.now
	e.view.set(dead)
	e.etcd.setDown(e.etcd.byName("cp2").ID, true)
	e.now = e.now.Add(time.Hour)
	rec := e.settle(c, 3)
	assert.Nil(t, rec.Pending)
	voters, _ = kinds(rec)
	assert.Equal(t, []string{"cp1", "cp2"}, voters)
}

func TestRemovesOneMemberPerChange(t *testing.T) {
	e, c := threeVoters(t)
	e.view.drop("cp2")
	e.view.drop("cp3")
	require.NoError(t, e.pass(c))
	voters, _ := kinds(e.record())
	assert.Equal(t, []string{"cp1", "cp3"}, voters, "one removal per pass, by name")
	rec := e.settle(c, 3)
	voters, _ = kinds(rec)
	assert.Equal(t, []string{"cp1"}, voters)

	// Never the last member, not even this leader's own when it leaves.
	e.view.drop("cp1")
	voters, _ = kinds(e.settle(c, 3))
	assert.Equal(t, []string{"cp1"}, voters)
}

// A node reset (new state ID) is a new member: the stale one is removed
// first, then the node joins again as a learner in its new state.
func TestStaleStateIsReplaced(t *testing.T) {
	e, c := threeVoters(t)
	oldID := e.etcd.byName("cp3").ID
	reset := cp3
	reset.StateID = "s3-reset"
	e.view.set(reset)
	e.etcd.setDown(oldID, true)

	require.NoError(t, e.pass(c))
	rec := e.record()
	voters, learners := kinds(rec)
	assert.Equal(t, []string{"cp1", "cp2"}, voters, "the stale member goes at once, no grace")
	assert.Empty(t, learners)

	rec = e.settle(c, 3)
	assert.True(t, rec.HasMember("cp3", "s3-reset"))
	assert.False(t, rec.HasMember("cp3", "s3"))
	_, learners = kinds(rec)
	assert.Equal(t, []string{"cp3"}, learners)
	assert.NotEqual(t, oldID, e.etcd.byName("").ID)
}

func TestLearnerThatNeverStartsIsRemovedAndOthersGoFirst(t *testing.T) {
	e, c := bootstrapped(t, cp1, cp2, cp3)
	rec := e.settle(c, 3)
	_, learners := kinds(rec)
	require.Equal(t, []string{"cp2"}, learners)

	e.now = e.now.Add(59 * time.Second)
	_, learners = kinds(e.settle(c, 3))
	assert.Equal(t, []string{"cp2"}, learners, "within the start timeout")

	e.now = e.now.Add(2 * time.Second)
	require.NoError(t, e.pass(c))
	rec = e.record()
	_, learners = kinds(rec)
	assert.Empty(t, learners, "removed after the start timeout")
	assert.Contains(t, rec.StartTimeouts, "cp2")

	_, learners = kinds(e.settle(c, 3))
	assert.Equal(t, []string{"cp3"}, learners, "a node that never timed out goes before cp2")
	e.etcd.start("cp3", cp3.PeerURL, cp3.ClientURL, true)
	rec = e.settle(c, 5)
	voters, learners := kinds(rec)
	assert.Equal(t, []string{"cp1", "cp3"}, voters)
	assert.Equal(t, []string{"cp2"}, learners, "cp2 gets another chance")
}

// A new leader (a fresh coordinator on the same store) finds the change
// the old one recorded and finishes it, sending to etcd only what etcd
// does not show yet.
func TestNewLeaderContinuesThePendingChange(t *testing.T) {
	for _, tc := range []struct {
		point   string
		ops     int // changes etcd saw in all (add + promote)
		pending string
	}{
		{FaultAfterIntent, 1, OpAddLearner},
		{FaultAfterMemberAdd, 1, OpAddLearner},
	} {
		t.Run(tc.point, func(t *testing.T) {
			e, _ := bootstrapped(t, cp1, cp2)
			require.ErrorIs(t, e.pass(e.coordinator(cp1, tc.point)), errCrash)
			rec := e.record()
			require.NotNil(t, rec.Pending)
			assert.Equal(t, tc.pending, rec.Pending.Op)

			rec = e.settle(e.coordinator(cp2, ""), 3)
			assert.Nil(t, rec.Pending)
			assert.True(t, rec.HasMember("cp2", "s2"), "the learner has its node's name and state")
			_, ops := e.etcd.snapshot()
			assert.Len(t, ops, tc.ops, "the add is sent once: %v", ops)
			assertMatchesEtcd(t, e, rec)
		})
	}
	for _, point := range []string{FaultAfterIntent, FaultAfterPromote} {
		t.Run("promote/"+point, func(t *testing.T) {
			e, c := bootstrapped(t, cp1, cp2)
			e.settle(c, 3)
			e.etcd.start("cp2", cp2.PeerURL, cp2.ClientURL, true)
			require.ErrorIs(t, e.pass(e.coordinator(cp1, point)), errCrash)
			require.NotNil(t, e.record().Pending)

			rec := e.settle(e.coordinator(cp2, ""), 3)
			voters, _ := kinds(rec)
			assert.Equal(t, []string{"cp1", "cp2"}, voters)
			_, ops := e.etcd.snapshot()
			assert.Len(t, ops, 2, "add and promote, each once: %v", ops)
		})
	}
}

// A recorded removal resumed by a new leader is checked against the
// quorum rule again: the cluster may no longer spare the member.
func TestResumedRemovalRechecksQuorum(t *testing.T) {
	e, _ := threeVoters(t)
	e.view.drop("cp3")
	require.ErrorIs(t, e.pass(e.coordinator(cp1, FaultAfterIntent)), errCrash)
	require.Equal(t, OpRemove, e.record().Pending.Op)
	e.etcd.setDown(e.etcd.byName("cp2").ID, true) // cp3 healthy, cp2 now down

	require.NoError(t, e.pass(e.coordinator(cp1, "")))
	rec := e.record()
	assert.Nil(t, rec.Pending, "the removal is abandoned")
	voters, _ := kinds(rec)
	assert.Equal(t, []string{"cp1", "cp2", "cp3"}, voters, "removing healthy cp3 would leave 1 healthy of 2")
}

func TestWithoutAViewNothingIsAddedOrRemoved(t *testing.T) {
	e, c := bootstrapped(t, cp1, cp2)
	e.view.setKnown(false)
	e.view.drop("cp1")
	rec := e.settle(c, 3)
	voters, learners := kinds(rec)
	assert.Equal(t, []string{"cp1"}, voters)
	assert.Empty(t, learners)
}

func TestOperatorChangesAreObserved(t *testing.T) {
	e, c := threeVoters(t)
	e.etcd.operatorRemove(e.etcd.byName("cp3").ID)
	e.view.drop("cp3") // and the operator dropped it from the config
	rec := e.settle(c, 3)
	voters, _ := kinds(rec)
	assert.Equal(t, []string{"cp1", "cp2"}, voters)
	assertMatchesEtcd(t, e, rec)
}

func TestRecordRoundTrips(t *testing.T) {
	rec := Record{Generation: 1, ClusterID: 7, Members: []Member{
		{Name: "cp2", StateID: "s2", ID: 2, PeerURL: "https://10.0.0.2:2380", Learner: true, AddedAt: time.Unix(100, 0).UTC()},
		{Name: "cp1", StateID: "s1", ID: 1, PeerURL: "https://10.0.0.1:2380"},
	}}
	assert.True(t, rec.HasMember("cp2", "s2"))
	assert.False(t, rec.HasMember("cp2", "s1"))
	assert.Equal(t, []string{"cp1", "cp2"}, []string{rec.InitialCluster()[0].Name, rec.InitialCluster()[1].Name})
}

// etcd's own reconfiguration guard refusing a change is a wait: the change
// stays recorded and is sent again, not decided anew.
func TestEtcdRefusalWaitsWithTheChangeRecorded(t *testing.T) {
	e, c := threeVoters(t)
	e.view.drop("cp3")
	e.etcd.setRefusal("remove", rpctypes.ErrUnhealthy)
	require.NoError(t, e.pass(c), "a refusal is not a failure")
	rec := e.record()
	require.NotNil(t, rec.Pending)
	assert.Equal(t, OpRemove, rec.Pending.Op)
	intent := rec.Pending.RequestID
	require.NoError(t, e.pass(c))
	assert.Equal(t, intent, e.record().Pending.RequestID, "the same intent, not a new one")

	e.etcd.setRefusal("remove", nil)
	rec = e.settle(c, 3)
	assert.Nil(t, rec.Pending)
	voters, _ := kinds(rec)
	assert.Equal(t, []string{"cp1", "cp2"}, voters)
}

// A promotion etcd refuses because the learner is behind is dropped, not
// held: the learner may never catch up, and the change slot must free up.
func TestPromotionOfALearnerNotReadyIsRetriedLater(t *testing.T) {
	e, c := bootstrapped(t, cp1, cp2)
	e.settle(c, 3)
	e.etcd.start("cp2", cp2.PeerURL, cp2.ClientURL, true)
	e.etcd.setRefusal("promote", rpctypes.ErrMemberLearnerNotReady)
	require.NoError(t, e.pass(c))
	rec := e.record()
	assert.Nil(t, rec.Pending)
	_, learners := kinds(rec)
	assert.Equal(t, []string{"cp2"}, learners)

	e.etcd.setRefusal("promote", nil)
	voters, _ := kinds(e.settle(c, 3))
	assert.Equal(t, []string{"cp1", "cp2"}, voters)
}

// Writes whose outcome is unknown are sent again with the same request ID:
// each lands once, and etcd sees each change once.
func TestUnknownWriteOutcomesAreRetried(t *testing.T) {
	e, _ := bootstrapped(t, cp1, cp2)
	s := &dropAcks{Store: e.store, n: 10}
	c := e.coordinatorOn(s, cp1, "")
	rec := e.settle(c, 3)
	require.Positive(t, s.dropped)
	assert.Nil(t, rec.Pending)
	assert.True(t, rec.HasMember("cp2", "s2"))
	_, ops := e.etcd.snapshot()
	assert.Len(t, ops, 1, "one add: %v", ops)
}

// Disaster recovery (a new EtcdBootstrap generation) restarts the record
// from the new generation's initial members.
func TestNewBootstrapGenerationRestartsTheRecord(t *testing.T) {
	e, c := bootstrapped(t, cp1, cp2)
	e.settle(c, 3)
	_, err := etcdboot.Recover(ctxT(t), e.store, 1, []etcdboot.Member{{Name: "cp2", StateID: "s2", PeerURL: cp2.PeerURL}}, "cp2", nil)
	require.NoError(t, err)
	_ = e.pass(c) // the new cluster's etcd is not running: the record is what counts
	rec := e.record()
	assert.Equal(t, uint64(2), rec.Generation)
	assert.Equal(t, []Member{{Name: "cp2", StateID: "s2", PeerURL: cp2.PeerURL, ClientURL: cp2.ClientURL}}, rec.Members)
	assert.Zero(t, rec.ClusterID)
	assert.Nil(t, rec.Pending)
}

// An add recorded but not sent is abandoned when its node is no longer one
// to add by the time a leader finishes it.
func TestPendingAddOfANodeGoneIsAbandoned(t *testing.T) {
	e, _ := bootstrapped(t, cp1, cp2)
	require.ErrorIs(t, e.pass(e.coordinator(cp1, FaultAfterIntent)), errCrash)
	e.view.drop("cp2")
	require.NoError(t, e.pass(e.coordinator(cp1, "")))
	rec := e.record()
	assert.Nil(t, rec.Pending)
	assert.False(t, rec.HasMember("cp2", "s2"))
	_, ops := e.etcd.snapshot()
	assert.Empty(t, ops)
}
