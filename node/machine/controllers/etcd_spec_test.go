package controllers

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/etcdtest"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/etcd"
	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/pki"
	"github.com/cairn-project/cairn/node/runtime"
)

// etcdFixture is one control plane's EtcdSpec fed by hand: the config and
// the cluster's records are put into the state as the node's sources would.
type etcdFixture struct {
	st     *runtime.State
	rt     *runtime.Runtime
	spec   *EtcdSpec
	node   config.Node
	etcdCA config.CertKeyPair
}

func newEtcdFixture(t *testing.T, binary string, extra ...runtime.Controller) *etcdFixture {
	return newEtcdFixtureObserved(t, binary, false, extra...)
}

// newEtcdFixtureObserved is newEtcdFixture with, when observe is set, an
// EtcdObserve source of the member, registered before the runtime starts.
func newEtcdFixtureObserved(t *testing.T, binary string, observe bool, extra ...runtime.Controller) *etcdFixture {
	t.Helper()
	ca, err := config.NewEtcdCA(nil, "test", time.Now())
	require.NoError(t, err)
	f := &etcdFixture{st: runtime.NewState(), etcdCA: ca, node: config.Node{
		Name: "cp1", Role: config.RoleControlPlane,
		Network: config.NodeNetwork{Addresses: []config.Address{{Link: "lo", CIDR: "127.0.0.1/8"}}},
	}}
	f.spec = &EtcdSpec{NodeName: "cp1", StateID: "s1", Layout: etcd.Layout{Dir: t.TempDir()}, Binary: binary, EtcdCA: ca,
		ClientPort: etcdtest.FreePort(t), PeerPort: etcdtest.FreePort(t)}
	var sources []runtime.Source
	if observe {
		sources = append(sources, &EtcdObserve{Layout: f.spec.Layout, ClientURL: etcd.HTTPSURL("127.0.0.1", f.spec.ClientPort), Interval: 100 * time.Millisecond})
	}
	f.rt = startWith(t, f.st, sources, append([]runtime.Controller{f.spec}, extra...)...)
	putConfig(t, f.st, 1, f.node)
	return f
}

func (f *etcdFixture) peerURL() string {
	return etcd.HTTPSURL("127.0.0.1", f.spec.PeerPort)
}

func (f *etcdFixture) putCluster(t *testing.T, c EtcdClusterSpec) uint64 {
	t.Helper()
	r, err := f.st.Put(runtime.Resource{Type: TypeEtcdCluster, ID: IDEtcd, Spec: c})
	require.NoError(t, err)
	return r.Version
}

// settle waits for a pass that saw version of EtcdCluster, and returns the
// phase and service it left.
func (f *etcdFixture) settle(t *testing.T, version uint64) (EtcdPhaseSpec, *ServiceSpecSpec) {
	t.Helper()
	waitPass(t, f.rt, f.spec.Name(), version)
	phase, ok := specOf[EtcdPhaseSpec](f.st, TypeEtcdPhase, IDEtcd)
	require.True(t, ok, "a phase is always published for a control plane")
	svc, ok := specOf[ServiceSpecSpec](f.st, TypeEtcdService, IDEtcd)
	if !ok {
		return phase, nil
	}
	return phase, &svc
}

func arg(svc *ServiceSpecSpec, flag string) string {
	for _, a := range svc.Args {
		if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
			return v
		}
	}
	return ""
}

func decided(initial ...EtcdPeer) EtcdClusterSpec {
	return EtcdClusterSpec{Decided: true, Generation: 1, Token: "tok", TokenHash: "hash-of-tok", InitialMembers: initial}
}

func TestEtcdSpecStartsNewOnlyWhenTheRecordNamesThisState(t *testing.T) {
	self, _ := os.Executable()
	f := newEtcdFixture(t, self)

	phase, svc := f.settle(t, f.putCluster(t, EtcdClusterSpec{}))
	assert.Equal(t, EtcdPhaseWaitingDecision, phase.Phase)
	assert.Nil(t, svc, "nothing runs before the decision")

	// The record names cp1, but in another state (cp1 was reset since).
	phase, svc = f.settle(t, f.putCluster(t, decided(EtcdPeer{Name: "cp1", StateID: "old", PeerURL: f.peerURL()})))
	assert.Equal(t, EtcdPhaseWaitingAdd, phase.Phase, "a wiped initial member joins, never starts a second cluster")
	assert.Nil(t, svc)

	phase, svc = f.settle(t, f.putCluster(t, decided(EtcdPeer{Name: "cp1", StateID: "s1", PeerURL: f.peerURL()})))
	assert.Equal(t, EtcdPhaseBootstrapping, phase.Phase)
	require.NotNil(t, svc)
	assert.Equal(t, etcd.StateNew, arg(svc, "initial-cluster-state"))
	assert.Equal(t, "cp1="+f.peerURL(), arg(svc, "initial-cluster"))
	assert.Equal(t, "tok", arg(svc, "initial-cluster-token"))
	for _, file := range []string{"ca.crt", "peer.crt", "peer.key", "server.crt", "server.key", "client.crt", "client.key"} {
		assert.FileExists(t, f.spec.Layout.File(file))
	}
	marker, err := os.ReadFile(filepath.Join(f.spec.Layout.DataDir(), etcd.MarkerFile))
	require.NoError(t, err)
	assert.Contains(t, string(marker), `"state":"new"`)
	assert.NotContains(t, string(marker), `"tok"`, "the marker holds the token's hash only")

	// Once etcd made its data, later records do not change the command
	// line (a change would restart the member).
	require.NoError(t, os.MkdirAll(filepath.Join(f.spec.Layout.DataDir(), "member"), 0o700))
	c := decided(EtcdPeer{Name: "cp1", StateID: "s1", PeerURL: f.peerURL()})
	c.MembershipGeneration, c.ClusterID = 1, 42
	c.Members = []EtcdMember{{Name: "cp1", StateID: "s1", ID: 7, PeerURL: f.peerURL()}, {Name: "cp2", StateID: "x", ID: 8, PeerURL: "https://127.0.0.2:2380", Learner: true}}
	phase, again := f.settle(t, f.putCluster(t, c))
	assert.Equal(t, EtcdPhaseMember, phase.Phase)
	require.NotNil(t, again)
	assert.Equal(t, svc.Args, again.Args)
}

// A control plane that runs no etcd yet still gets cairnd's client
// certificate: its membership coordinator dials the other members with
// it when this node leads Raft, and a leader that waits to be added would
// otherwise never add anyone, itself included (a cold boot whose first
// leader died after deciding stalled so).
func TestEtcdSpecWritesTheClientCertificateBeforeEtcdRuns(t *testing.T) {
	self, _ := os.Executable()
	f := newEtcdFixture(t, self)
	phase, svc := f.settle(t, f.putCluster(t, EtcdClusterSpec{}))
	assert.Equal(t, EtcdPhaseWaitingDecision, phase.Phase)
	assert.Nil(t, svc)
	_, err := etcd.LoadClientTLS(f.spec.Layout)
	require.NoError(t, err, "waiting for the decision")

	require.NoError(t, os.RemoveAll(f.spec.Layout.PKIDir()))
	c := decided(EtcdPeer{Name: "cp0", StateID: "z", PeerURL: "https://127.0.0.9:2380"})
	c.MembershipGeneration = 1
	c.Members = []EtcdMember{{Name: "cp0", StateID: "z", ID: 5, PeerURL: "https://127.0.0.9:2380"}}
	phase, svc = f.settle(t, f.putCluster(t, c))
	assert.Equal(t, EtcdPhaseWaitingAdd, phase.Phase)
	assert.Nil(t, svc)
	_, err = etcd.LoadClientTLS(f.spec.Layout)
	require.NoError(t, err, "waiting to be added")
}

func TestEtcdSpecJoinsWithTheMembersTheLeaderRecorded(t *testing.T) {
	self, _ := os.Executable()
	f := newEtcdFixture(t, self)
	c := decided(EtcdPeer{Name: "cp0", StateID: "z", PeerURL: "https://127.0.0.9:2380"})
	c.MembershipGeneration = 1
	c.Members = []EtcdMember{{Name: "cp0", StateID: "z", ID: 5, PeerURL: "https://127.0.0.9:2380"}}
	phase, svc := f.settle(t, f.putCluster(t, c))
	assert.Equal(t, EtcdPhaseWaitingAdd, phase.Phase)
	assert.Nil(t, svc)

	// Added by the leader, but in a record of an older generation: wait.
	c.Members = append(c.Members, EtcdMember{Name: "cp1", StateID: "s1", ID: 6, PeerURL: f.peerURL(), Learner: true})
	c.Generation = 2
	phase, svc = f.settle(t, f.putCluster(t, c))
	assert.Equal(t, EtcdPhaseWaitingAdd, phase.Phase)
	assert.Nil(t, svc)

	// Listed as a voter with no data: it lost its data, and must not vote
	// without the log it acknowledged.
	c.Generation = 1
	c.Members = slices.Clone(c.Members) // the state holds the old slice
	c.Members[1].Learner = false
	phase, svc = f.settle(t, f.putCluster(t, c))
	assert.Equal(t, EtcdPhaseRefused, phase.Phase)
	assert.Contains(t, phase.Reason, "remove-member 6")
	assert.Nil(t, svc)

	c.Members = slices.Clone(c.Members)
	c.Members[1].Learner = true
	phase, svc = f.settle(t, f.putCluster(t, c))
	assert.Equal(t, EtcdPhaseJoining, phase.Phase)
	require.NotNil(t, svc)
	assert.Equal(t, etcd.StateExisting, arg(svc, "initial-cluster-state"))
	assert.Equal(t, "cp0=https://127.0.0.9:2380,cp1="+f.peerURL(), arg(svc, "initial-cluster"))
}

// Data that is not this node's member of this cluster is never started
// and never touched.
func TestEtcdSpecRefusesForeignData(t *testing.T) {
	self, _ := os.Executable()
	for name, prepare := range map[string]func(t *testing.T, l etcd.Layout){
		"no marker": func(t *testing.T, l etcd.Layout) {
			require.NoError(t, os.MkdirAll(filepath.Join(l.DataDir(), "member", "wal"), 0o700))
		},
		"another cluster": func(t *testing.T, l etcd.Layout) {
			require.NoError(t, etcd.WriteMarker(l, etcd.NewMarker(1, "hash-of-other", "cp1", "s1")))
			require.NoError(t, os.MkdirAll(filepath.Join(l.DataDir(), "member", "wal"), 0o700))
		},
		"another node state": func(t *testing.T, l etcd.Layout) {
			require.NoError(t, etcd.WriteMarker(l, etcd.NewMarker(1, "hash-of-tok", "cp1", "s0")))
			require.NoError(t, os.MkdirAll(filepath.Join(l.DataDir(), "member", "wal"), 0o700))
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newEtcdFixture(t, self)
			prepare(t, f.spec.Layout)
			before := tree(t, f.spec.Layout.DataDir())
			phase, svc := f.settle(t, f.putCluster(t, decided(EtcdPeer{Name: "cp1", StateID: "s1", PeerURL: f.peerURL()})))
			assert.Equal(t, EtcdPhaseRefused, phase.Phase)
			assert.Contains(t, phase.Reason, "cairnctl reset")
			assert.Nil(t, svc, "refused data is not started")
			assert.Equal(t, before, tree(t, f.spec.Layout.DataDir()), "the data is untouched")
		})
	}
}

// tree lists the files under dir with their contents.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	}))
	return out
}

// The whole machine-plane path with a real etcd and a real supervisor:
// the decided record → EtcdService → ServiceSpec → a running member that
// EtcdObserve reaches over TLS, and EtcdStatus calls healthy.
func TestEtcdMemberRunsAndReportsHealthy(t *testing.T) {
	sup := supervisor.New(supervisor.Options{LogDir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-supDone })

	f := newEtcdFixtureObserved(t, etcdtest.Binary(t), true, &ServiceSpecs{}, &ServiceApply{Supervisor: sup}, &EtcdStatus{})
	f.putCluster(t, decided(EtcdPeer{Name: "cp1", StateID: "s1", PeerURL: f.peerURL()}))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st, ok := specOf[EtcdStatusSpec](f.st, TypeEtcdStatus, IDEtcd)
		require.True(ct, ok)
		assert.True(ct, st.Healthy, "status: %+v", st)
		assert.Equal(ct, 1, st.Members)
		assert.True(ct, st.IsLeader)
		assert.NotEmpty(ct, st.ClusterID)
	}, 60*time.Second, 50*time.Millisecond)
	names := []string{}
	for _, s := range sup.List() {
		names = append(names, s.Name)
	}
	assert.True(t, slices.Contains(names, "etcd"), "the supervisor runs etcd: %v", names)
}

// A member the leader removed (its data is this node's, but the record of
// the formed cluster no longer lists it) sets its data aside, keeps it,
// and waits to be added again.
func TestEtcdSpecSetsAsideTheDataOfARemovedMember(t *testing.T) {
	self, _ := os.Executable()
	f := newEtcdFixture(t, self)
	c := decided(EtcdPeer{Name: "cp1", StateID: "s1", PeerURL: f.peerURL()})
	_, svc := f.settle(t, f.putCluster(t, c))
	require.NotNil(t, svc)
	require.NoError(t, os.MkdirAll(filepath.Join(f.spec.Layout.DataDir(), "member", "wal"), 0o700))
	c.MembershipGeneration, c.ClusterID = 1, 99
	c.Members = []EtcdMember{{Name: "cp2", StateID: "s", ID: 3, PeerURL: "https://127.0.0.2:2380"}}
	phase, svc := f.settle(t, f.putCluster(t, c))
	assert.Equal(t, EtcdPhaseWaitingAdd, phase.Phase)
	assert.Nil(t, svc)
	aside, err := filepath.Glob(f.spec.Layout.DataDir() + ".removed-*")
	require.NoError(t, err)
	require.Len(t, aside, 1, "the old data is kept beside")
	assert.DirExists(t, filepath.Join(aside[0], "member", "wal"))
}

// A change of cluster.etcd.extraArgs reaches a running member only when the
// Raft leader grants it the new settings, so members restart one at a time.
func TestEtcdSpecWaitsForTheLeadersGrantToChangeSettings(t *testing.T) {
	self, _ := os.Executable()
	f := newEtcdFixture(t, self)
	c := decided(EtcdPeer{Name: "cp1", StateID: "s1", PeerURL: f.peerURL()})
	_, first := f.settle(t, f.putCluster(t, c))
	require.NotNil(t, first)
	require.NoError(t, os.MkdirAll(filepath.Join(f.spec.Layout.DataDir(), "member"), 0o700))
	old := config.EtcdSettingsHash(nil)
	assert.Contains(t, first.Env, EtcdSettingsEnv+"="+old)

	extra := map[string]string{"snapshot-count": "5000"}
	node := f.node
	cfgV, err := f.st.Put(runtime.Resource{Type: TypeClusterConfig, ID: IDCluster, Spec: ClusterConfigSpec{Revision: 2,
		Config: &config.Config{Cluster: config.Cluster{Etcd: config.Etcd{ExtraArgs: extra}}, Nodes: []config.Node{node}}}})
	require.NoError(t, err)
	waitPass(t, f.rt, f.spec.Name(), cfgV.Version)
	phase, svc := f.settle(t, f.putCluster(t, c))
	require.NotNil(t, svc)
	assert.Equal(t, first.Args, svc.Args, "not granted: the member keeps running as it was")
	assert.Equal(t, config.EtcdSettingsHash(extra), phase.Pending)
	assert.Contains(t, phase.Reason, "waiting for the Raft leader's turn")

	c.MembershipGeneration, c.ClusterID = 1, 9
	c.Members = []EtcdMember{{Name: "cp1", StateID: "s1", ID: 7, PeerURL: f.peerURL(), Settings: config.EtcdSettingsHash(extra)}}
	phase, svc = f.settle(t, f.putCluster(t, c))
	require.NotNil(t, svc)
	assert.Equal(t, "5000", arg(svc, "snapshot-count"), "granted: restarted with the new settings")
	assert.Contains(t, svc.Env, EtcdSettingsEnv+"="+config.EtcdSettingsHash(extra))
	assert.Empty(t, phase.Pending)
	marker, err := os.ReadFile(filepath.Join(f.spec.Layout.DataDir(), etcd.MarkerFile))
	require.NoError(t, err)
	assert.Contains(t, string(marker), `"snapshot-count":"5000"`, "the marker keeps what runs now")
}

// Certificates due for renewal are issued again on the day's pass, with
// no other input changed.
func TestEtcdSpecRenewsCertificatesAsDaysPass(t *testing.T) {
	self, _ := os.Executable()
	f := newEtcdFixture(t, self)
	_, svc := f.settle(t, f.putCluster(t, decided(EtcdPeer{Name: "cp1", StateID: "s1", PeerURL: f.peerURL()})))
	require.NotNil(t, svc)
	before, err := os.ReadFile(f.spec.Layout.File("peer.crt"))
	require.NoError(t, err)

	later := time.Now().Add(pki.EtcdValidity * 3 / 4) // past two thirds of its life
	f.spec.Now = func() time.Time { return later }
	r, err := f.st.Put(runtime.Resource{Type: TypeClock, ID: IDDay, Spec: ClockSpec{Date: later.UTC().Format(time.DateOnly)}})
	require.NoError(t, err)
	waitPass(t, f.rt, f.spec.Name(), r.Version)
	after, err := os.ReadFile(f.spec.Layout.File("peer.crt"))
	require.NoError(t, err)
	assert.NotEqual(t, string(before), string(after), "the peer certificate was renewed")
}

// A revision counts as applied only once etcd follows it: its phase was
// decided for the revision and no new settings wait for the leader's turn.
func TestConfigStatusWaitsForEtcd(t *testing.T) {
	st := runtime.NewState()
	reported := make(chan uint64, 16)
	cs := &ConfigStatus{Report: func(rev uint64) { reported <- rev }}
	rt := start(t, st, cs)
	putConfig(t, st, 5)
	_, err := st.Put(runtime.Resource{Type: TypeNetworkStatus, ID: IDStatus, Spec: NetworkStatusSpec{Revision: 5}})
	require.NoError(t, err)
	phase := func(p EtcdPhaseSpec) uint64 {
		r, err := st.Put(runtime.Resource{Type: TypeEtcdPhase, ID: IDEtcd, Spec: p})
		require.NoError(t, err)
		return r.Version
	}
	require.Equal(t, uint64(5), <-reported, "no etcd phase: a node without etcd")
	putConfig(t, st, 6)
	_, err = st.Put(runtime.Resource{Type: TypeNetworkStatus, ID: IDStatus, Spec: NetworkStatusSpec{Revision: 6}})
	require.NoError(t, err)
	waitPass(t, rt, cs.Name(), phase(EtcdPhaseSpec{Phase: EtcdPhaseMember, Revision: 5}))
	waitPass(t, rt, cs.Name(), phase(EtcdPhaseSpec{Phase: EtcdPhaseMember, Revision: 6, Pending: "abc"}))
	s, ok := specOf[ConfigStatusSpec](st, TypeConfigStatus, IDApplied)
	require.True(t, ok)
	assert.Equal(t, uint64(5), s.Revision, "etcd waits for its turn: revision 6 is not applied yet")
	phase(EtcdPhaseSpec{Phase: EtcdPhaseMember, Revision: 6})
	require.Equal(t, uint64(6), <-reported)
}
