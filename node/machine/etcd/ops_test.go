package etcd_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairn-project/cairn/internal/etcdtest"
	"github.com/cairn-project/cairn/node/machine/etcd"
)

const opsWait = 30 * time.Second

func opsFor(t *testing.T, c *etcdtest.Cluster, m *etcdtest.Member) *etcd.Ops {
	t.Helper()
	o := etcd.NewOps(m.ClientURL(), c.ClientTLS(t))
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), opsWait)
	t.Cleanup(cancel)
	return ctx
}

func TestOpsWithoutAMemberSayNoMember(t *testing.T) {
	o := etcd.NewOps("", nil)
	_, err := o.Members(t.Context())
	require.ErrorIs(t, err, etcd.ErrNoMember)
	_, err = o.Snapshot(t.Context(), &bytes.Buffer{})
	require.ErrorIs(t, err, etcd.ErrNoMember)
	_, err = o.Leave(t.Context())
	require.ErrorIs(t, err, etcd.ErrNoMember)

	// A control plane before its certificates are written.
	_, err = etcd.NewLocalOps(etcd.Layout{Dir: t.TempDir()}, "https://127.0.0.1:2379").Status(t.Context())
	require.ErrorIs(t, err, etcd.ErrNoMember)
	assert.ErrorContains(t, err, "no etcd client certificate yet")
}

// The read operations, snapshot, defragment and alarms on a real 3-member
// cluster, and leadership handed on.
func TestOpsReadSnapshotDefragAndForfeit(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	ctx := ctxFor(t)
	// As the node makes it: the certificate read from the member's files.
	ops := etcd.NewLocalOps(c.Members[0].Layout, c.Members[0].ClientURL())

	list, err := ops.Members(ctx)
	require.NoError(t, err)
	require.Len(t, list, 3)
	var names []string
	for _, m := range list {
		names = append(names, m.Name)
		assert.False(t, m.Learner)
		assert.NotZero(t, m.ID)
		assert.Equal(t, []string{c.Members[slices.IndexFunc(c.Members, func(x *etcdtest.Member) bool { return x.Name == m.Name })].ClientURL()}, m.ClientURLs)
	}
	assert.ElementsMatch(t, []string{"m1", "m2", "m3"}, names)

	st, err := ops.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "m1", st.Name)
	assert.False(t, st.Learner)
	assert.NotZero(t, st.MemberID)
	assert.NotZero(t, st.ClusterID)
	assert.NotZero(t, st.LeaderID)
	assert.NotZero(t, st.RaftTerm)
	assert.NotZero(t, st.RaftIndex)
	assert.Positive(t, st.DBSize)
	assert.Positive(t, st.DBSizeInUse)
	assert.NotEmpty(t, st.Version)
	assert.Empty(t, st.Alarms)
	assert.Empty(t, st.Errors)

	// The snapshot holds the revision of the last write.
	cli := c.Client(t)
	var rev int64
	for i := range 20 {
		res, err := cli.Put(ctx, "k"+string(rune('a'+i)), "v")
		require.NoError(t, err)
		rev = res.Header.Revision
	}
	var buf bytes.Buffer
	info, err := ops.Snapshot(ctx, &buf)
	require.NoError(t, err)
	assert.Positive(t, info.Size)
	assert.Equal(t, int64(buf.Len()), info.Size)
	assert.Equal(t, rev, info.Revision)
	assert.NotEmpty(t, info.Version)

	def, err := ops.Defragment(ctx)
	require.NoError(t, err)
	assert.Positive(t, def.SizeBefore)
	assert.Positive(t, def.SizeAfter)

	alarms, err := ops.Alarms(ctx)
	require.NoError(t, err)
	assert.Empty(t, alarms)
	disarmed, err := ops.DisarmAlarms(ctx)
	require.NoError(t, err)
	assert.Empty(t, disarmed)

	// Forfeiting on a follower changes nothing and names the leader.
	leader := st.LeaderID
	var leaderOps, followerOps *etcd.Ops
	for _, m := range c.Members {
		o := opsFor(t, c, m)
		s, err := o.Status(ctx)
		require.NoError(t, err)
		if s.MemberID == leader {
			leaderOps = o
		} else {
			followerOps = o
		}
	}
	require.NotNil(t, leaderOps)
	res, err := followerOps.ForfeitLeadership(ctx)
	require.NoError(t, err)
	assert.False(t, res.Moved)
	assert.Equal(t, leader, res.LeaderID)
	assert.NotEmpty(t, res.LeaderName)

	// On the leader it moves leadership to another voter, which every
	// member then follows.
	res, err = leaderOps.ForfeitLeadership(ctx)
	require.NoError(t, err)
	require.True(t, res.Moved)
	assert.NotEqual(t, leader, res.LeaderID)
	assert.NotEmpty(t, res.LeaderName)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		s, err := followerOps.Status(ctx)
		require.NoError(ct, err)
		assert.Equal(ct, res.LeaderID, s.LeaderID)
	}, opsWait, 20*time.Millisecond)
}

// Membership changes: a learner is reported and removed; removals that
// would break quorum, remove this member or name no member are refused;
// leave works while quorum holds and never for the last member.
func TestOpsLeaveAndRemoveMemberKeepQuorum(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	ctx := ctxFor(t)
	m1, m2, m3 := c.Members[0], c.Members[1], c.Members[2]
	ops1 := opsFor(t, c, m1)
	cli := c.Client(t)

	// A fourth member joins as a learner.
	m4 := c.NewMember("m4")
	// etcd refuses membership changes until its members have been
	// connected for a while ("unhealthy cluster").
	var added *clientv3.MemberAddResponse
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var err error
		added, err = cli.MemberAddAsLearner(ctx, []string{m4.PeerURL()})
		assert.NoError(ct, err)
	}, opsWait, 200*time.Millisecond)
	for _, m := range added.Members {
		name := m.Name
		if m.ID == added.Member.ID {
			name = m4.Name
		}
		m4.InitialCluster = append(m4.InitialCluster, etcd.Peer{Name: name, PeerURL: m.PeerURLs[0]})
	}
	m4.State = etcd.StateExisting
	m4.Start(t)
	ops4 := opsFor(t, c, m4)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st, err := ops4.Status(ctx)
		require.NoError(ct, err)
		assert.True(ct, st.Learner)
		assert.NotZero(ct, st.LeaderID)
	}, opsWait, 50*time.Millisecond)
	list, err := ops1.Members(ctx)
	require.NoError(t, err)
	require.Len(t, list, 4)
	assert.True(t, list[slices.IndexFunc(list, func(m etcd.MemberInfo) bool { return m.ID == added.Member.ID })].Learner)

	// Removing the learner never touches quorum.
	gone, err := ops1.RemoveMember(ctx, added.Member.ID)
	require.NoError(t, err)
	assert.Equal(t, "m4", gone.Name)

	st1, err := ops1.Status(ctx)
	require.NoError(t, err)
	_, err = ops1.RemoveMember(ctx, st1.MemberID)
	require.ErrorIs(t, err, etcd.ErrRemoveSelf)
	_, err = ops1.RemoveMember(ctx, 0x1234)
	require.ErrorIs(t, err, etcd.ErrUnknownMember)

	// With m3 down, neither m1 leaving nor m2 removed leaves a healthy
	// majority of the two voters left.
	ids := memberIDs(t, ops1)
	m3.Kill()
	_, err = etcd.NewLocalOps(m3.Layout, m3.ClientURL()).Status(ctx)
	require.ErrorIs(t, err, etcd.ErrNoMember, "a stopped member is no member, at once")
	assert.ErrorContains(t, err, "etcd does not listen at "+m3.ClientURL())
	_, err = ops1.Leave(ctx)
	require.ErrorIs(t, err, etcd.ErrQuorum)
	assert.ErrorContains(t, err, "1 of the 2 voting members left are healthy, 2 are needed")
	_, err = ops1.RemoveMember(ctx, ids["m2"])
	require.ErrorIs(t, err, etcd.ErrQuorum)
	// Each refusal checked quorum three times, 2 s apart: the rest of the
	// test gets a deadline of its own.
	ctx = ctxFor(t)
	// Removing the dead one leaves two healthy voters.
	gone, err = ops1.RemoveMember(ctx, ids["m3"])
	require.NoError(t, err)
	assert.Equal(t, "m3", gone.Name)

	// m1 leaves: m2 goes on alone, and cannot leave in turn.
	gone, err = ops1.Leave(ctx)
	require.NoError(t, err)
	assert.Equal(t, "m1", gone.Name)
	ops2 := opsFor(t, c, m2)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		list, err := ops2.Members(ctx)
		require.NoError(ct, err)
		require.Len(ct, list, 1)
		assert.Equal(ct, "m2", list[0].Name)
	}, opsWait, 50*time.Millisecond)
	_, err = ops2.Leave(ctx)
	require.ErrorIs(t, err, etcd.ErrLastMember)
}

func memberIDs(t *testing.T, o *etcd.Ops) map[string]uint64 {
	t.Helper()
	list, err := o.Members(t.Context())
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, m := range list {
		out[m.Name] = m.ID
	}
	return out
}
