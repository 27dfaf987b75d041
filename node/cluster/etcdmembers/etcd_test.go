package etcdmembers

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/etcdtest"
	"github.com/cairn-project/cairn/node/cluster/etcdboot"
	machineetcd "github.com/cairn-project/cairn/node/machine/etcd"
)

// TestRealEtcdJoinPromoteRemove runs the coordinator as a leader would, on
// a real Raft store against real etcd members, and plays the nodes' side by
// the rules they follow: the member the bootstrap record names starts as
// new; a node the membership record lists with an ID starts as existing,
// with the record's members as its initial cluster.
func TestRealEtcdJoinPromoteRemove(t *testing.T) {
	store := openStore(t)
	ec := etcdtest.StartCluster(t, 1) // for its PKI; its own member is not used
	ec.Members[0].Kill()
	m1, m2 := ec.NewMember("cp1"), ec.NewMember("cp2")
	n1 := Node{Name: "cp1", StateID: "s1", PeerURL: m1.PeerURL(), ClientURL: m1.ClientURL(), Alive: true}
	n2 := Node{Name: "cp2", StateID: "s2", PeerURL: m2.PeerURL(), ClientURL: m2.ClientURL(), Alive: true}
	v := newView(n1, n2)
	tlsConf := ec.ClientTLS(t)

	// The first leader hangs for good right after etcd added the learner,
	// before it recorded it (as if killed there); a second one takes over.
	// When the first wakes at the end, its stale write fails the CAS.
	hung := make(chan struct{})
	run(t, Config{
		Store: store, Self: n1, View: v.get, Dial: DialTLS(tlsConf),
		Fault: func(point string) {
			if point == FaultAfterMemberAdd {
				close(hung)
				<-t.Context().Done()
			}
		},
	})

	var boot etcdboot.Record
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var err error
		boot, err = etcdboot.Get(context.Background(), store)
		require.NoError(ct, err)
	}, 10*time.Second, 20*time.Millisecond)
	require.True(t, boot.IsInitialMember("cp1", "s1"))
	require.False(t, boot.IsInitialMember("cp2", "s2"))
	start(t, m1, boot, machineetcd.StateNew, peers(boot.InitialMembers))

	<-hung
	hints := make(chan struct{}, 1)
	run(t, Config{Store: store, Self: n1, View: v.get, Dial: DialTLS(tlsConf), Hints: hints})

	rec := waitRecord(t, store, func(r Record) bool { return r.HasMember("cp2", "s2") })
	start(t, m2, boot, machineetcd.StateExisting, memberPeers(rec.InitialCluster()))

	cli, err := NewClient([]string{m1.ClientURL(), m2.ClientURL()}, tlsConf)
	require.NoError(t, err)
	defer cli.Close()
	rec = waitRecord(t, store, func(r Record) bool {
		voters, learners := kinds(r)
		return len(voters) == 2 && len(learners) == 0 && r.Pending == nil
	})
	assertRecordIsEtcd(t, cli, rec, "cp1", "cp2")

	v.drop("cp2")
	hints <- struct{}{}
	rec = waitRecord(t, store, func(r Record) bool { return len(r.Members) == 1 && r.Pending == nil })
	assertRecordIsEtcd(t, cli, rec, "cp1")
}

// run starts a coordinator's Run as a leader hook would, with the test's
// timings, until the test ends.
func run(t *testing.T, cfg Config) *Coordinator {
	t.Helper()
	cfg.Interval, cfg.CallTimeout = 100*time.Millisecond, 2*time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	c, err := New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-stopped })
	return c
}

func start(t *testing.T, m *etcdtest.Member, boot etcdboot.Record, state string, initial []machineetcd.Peer) {
	t.Helper()
	m.Token, m.State, m.InitialCluster = boot.ClusterToken, state, initial
	m.Start(t)
}

func peers(ms []etcdboot.Member) []machineetcd.Peer {
	var out []machineetcd.Peer
	for _, m := range ms {
		out = append(out, machineetcd.Peer{Name: m.Name, PeerURL: m.PeerURL})
	}
	return out
}

func memberPeers(ms []Member) []machineetcd.Peer {
	var out []machineetcd.Peer
	for _, m := range ms {
		out = append(out, machineetcd.Peer{Name: m.Name, PeerURL: m.PeerURL})
	}
	return out
}

func waitRecord(t *testing.T, s Store, cond func(Record) bool) Record {
	t.Helper()
	var rec Record
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var err error
		rec, err = Get(context.Background(), s)
		require.NoError(ct, err)
		require.True(ct, cond(rec), "record: %+v", rec)
	}, 45*time.Second, 50*time.Millisecond)
	return rec
}

// assertRecordIsEtcd checks etcd's member list: exactly the named voters,
// with the record's IDs and etcd's cluster ID.
func assertRecordIsEtcd(t *testing.T, cli Cluster, rec Record, names ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cid, list, err := cli.MemberList(ctx)
	require.NoError(t, err)
	assert.Equal(t, cid, rec.ClusterID)
	require.Len(t, list, len(names))
	require.Len(t, rec.Members, len(names))
	for i, name := range names {
		m := rec.Members[i]
		assert.Equal(t, name, m.Name)
		e, ok := memberByID(list, m.ID)
		require.True(t, ok, "member %s (%x) in etcd", name, m.ID)
		assert.Equal(t, name, e.Name)
		assert.False(t, e.Learner)
		assert.Equal(t, m.PeerURL, e.PeerURLs[0])
	}
}

// TestRealEtcdThreeMembersAndAResetNode grows a real etcd cluster to three
// voters, one learner at a time, then resets one node (its etcd killed and
// its data gone, the node back with a new state ID at the same address):
// the stale member is removed and the node joins again as a new member.
func TestRealEtcdThreeMembersAndAResetNode(t *testing.T) {
	store := openStore(t)
	ec := etcdtest.StartCluster(t, 1)
	ec.Members[0].Kill()
	ms := map[string]*etcdtest.Member{}
	v := newView()
	for i, name := range []string{"cp1", "cp2", "cp3"} {
		m := ec.NewMember(name)
		ms[name] = m
		v.set(Node{Name: name, StateID: "s" + string(rune('1'+i)), PeerURL: m.PeerURL(), ClientURL: m.ClientURL(), Alive: true})
	}
	tlsConf := ec.ClientTLS(t)
	nodes, _ := v.get(t.Context())
	hints := make(chan struct{}, 1)
	run(t, Config{Store: store, Self: nodes["cp1"], View: v.get, Dial: DialTLS(tlsConf), Hints: hints})

	var boot etcdboot.Record
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var err error
		boot, err = etcdboot.Get(context.Background(), store)
		require.NoError(ct, err)
	}, 10*time.Second, 20*time.Millisecond)
	start(t, ms["cp1"], boot, machineetcd.StateNew, peers(boot.InitialMembers))

	// The nodes' side: whoever the record lists (in its state) starts.
	for _, name := range []string{"cp2", "cp3"} {
		rec := waitRecord(t, store, func(r Record) bool { return r.HasMember(name, nodes[name].StateID) })
		_, learners := kinds(rec)
		require.Equal(t, []string{name}, learners, "one learner at a time")
		start(t, ms[name], boot, machineetcd.StateExisting, memberPeers(rec.InitialCluster()))
	}
	rec := waitRecord(t, store, func(r Record) bool {
		voters, learners := kinds(r)
		return len(voters) == 3 && len(learners) == 0 && r.Pending == nil
	})
	cli, err := NewClient([]string{ms["cp1"].ClientURL(), ms["cp2"].ClientURL()}, tlsConf)
	require.NoError(t, err)
	defer cli.Close()
	assertRecordIsEtcd(t, cli, rec, "cp1", "cp2", "cp3")
	oldID := rec.Members[2].ID

	// Reset cp3: same name and address, no data, a new state.
	ms["cp3"].Kill()
	fresh := ec.NewMember("cp3")
	fresh.ClientPort, fresh.PeerPort = ms["cp3"].ClientPort, ms["cp3"].PeerPort
	reset := nodes["cp3"]
	reset.StateID = "s3-reset"
	v.set(reset)
	hints <- struct{}{}
	rec = waitRecord(t, store, func(r Record) bool { return r.HasMember("cp3", "s3-reset") })
	assert.False(t, rec.HasMember("cp3", "s3"), "the stale member is gone")
	start(t, fresh, boot, machineetcd.StateExisting, memberPeers(rec.InitialCluster()))
	rec = waitRecord(t, store, func(r Record) bool {
		voters, learners := kinds(r)
		return len(voters) == 3 && len(learners) == 0 && r.Pending == nil
	})
	assertRecordIsEtcd(t, cli, rec, "cp1", "cp2", "cp3")
	assert.NotEqual(t, oldID, rec.Members[2].ID, "a new member, not the old one back")
}
