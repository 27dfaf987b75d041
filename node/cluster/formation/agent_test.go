package formation

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
)

// hostSeq hands out one loopback IP per test node; gossip and Raft use the
// real default ports on it, as on real hosts.
var hostSeq atomic.Uint32

func nextHost() string {
	for {
		n := hostSeq.Add(1)
		host := fmt.Sprintf("127.%d.%d.%d", 50+os.Getpid()%50, n/250%250, n%250+1)
		free := true
		for _, addr := range []string{
			net.JoinHostPort(host, fmt.Sprint(gossip.DefaultPort)),
			net.JoinHostPort(host, fmt.Sprint(consensus.DefaultRaftPort)),
		} {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				free = false
				break
			}
			_ = ln.Close()
		}
		if free {
			return host
		}
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("CAIRN_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testCluster struct {
	t      testing.TB
	id     string
	key    []byte
	expect int
	seeds  []string
	mu     sync.Mutex
	agents map[string]*Agent
	hosts  map[string]string
	dirs   map[string]string
	ca     config.CertKeyPair // Raft runs mutual TLS, as in production
}

func newTestCluster(t testing.TB, id string, expect int) *testCluster {
	c := &testCluster{
		t: t, id: id, key: bytes.Repeat([]byte(id[:1]), 32), expect: expect,
		agents: map[string]*Agent{}, hosts: map[string]string{}, dirs: map[string]string{},
	}
	ca, err := config.NewCA(nil, id, time.Now())
	require.NoError(t, err)
	c.ca = ca
	t.Cleanup(c.closeAll)
	return c
}

// raftTLS issues a node certificate for name at host: the Raft transport's
// mutual TLS, as node.Run sets it up.
func (c *testCluster) raftTLS(name, host string) *consensus.TLSConfig {
	key, csr, err := pki.NewKeyAndCSR(name, []net.IP{net.ParseIP(host)})
	require.NoError(c.t, err)
	crt, err := pki.SignNode(c.ca, csr, time.Now())
	require.NoError(c.t, err)
	id, err := pki.NewIdentity(crt, key, []byte(c.ca.Crt))
	require.NoError(c.t, err)
	return &consensus.TLSConfig{Server: id.RaftServerTLS(), Client: id.RaftClientTLS()}
}

func (c *testCluster) config(name string, role gossip.Role) Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	host, ok := c.hosts[name]
	if !ok {
		host = nextHost()
		c.hosts[name] = host
		c.dirs[name] = c.t.TempDir()
	}
	return Config{
		Name: name, Role: role, DataDir: c.dirs[name],
		GossipAddr: net.JoinHostPort(host, fmt.Sprint(gossip.DefaultPort)),
		RaftAddr:   net.JoinHostPort(host, fmt.Sprint(consensus.DefaultRaftPort)),
		APIAddr:    net.JoinHostPort(host, "6440"),
		ClusterID:  c.id, GossipKey: c.key, Seeds: c.seeds, Expect: c.expect,
		Version: "test", Profile: TestProfile(), Logger: testLogger().With("node", name),
		RaftTLS: c.raftTLS(name, host),
	}
}

func (c *testCluster) startWith(cfg Config) *Agent {
	c.t.Helper()
	a, err := Start(cfg)
	require.NoError(c.t, err)
	c.mu.Lock()
	c.agents[cfg.Name] = a
	c.mu.Unlock()
	return a
}

func (c *testCluster) start(name string, role gossip.Role) *Agent {
	return c.startWith(c.config(name, role))
}

func (c *testCluster) stop(name string) {
	c.mu.Lock()
	a := c.agents[name]
	delete(c.agents, name)
	c.mu.Unlock()
	require.NoError(c.t, a.Close())
}

func (c *testCluster) closeAll() {
	c.mu.Lock()
	agents := c.agents
	c.agents = map[string]*Agent{}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func() { defer wg.Done(); _ = a.Close() }()
	}
	wg.Wait()
}

// startControlPlanes starts n control-plane agents at the same instant, all
// seeded with the first one's gossip address.
func (c *testCluster) startControlPlanes(n int) []string {
	var names []string
	var cfgs []Config
	for i := range n {
		name := fmt.Sprintf("cp%d", i+1)
		names = append(names, name)
		cfgs = append(cfgs, c.config(name, gossip.RoleControlPlane))
	}
	c.seeds = []string{cfgs[0].GossipAddr}
	var wg sync.WaitGroup
	for _, cfg := range cfgs {
		cfg.Seeds = c.seeds
		wg.Add(1)
		go func() { defer wg.Done(); c.startWith(cfg) }()
	}
	wg.Wait()
	return names
}

// raftView is one control-plane node's view: its leader and servers.
type raftView struct {
	leader  string
	servers map[string]consensus.Suffrage
}

func (c *testCluster) views() map[string]raftView {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]raftView{}
	for name, a := range c.agents {
		if a.Store == nil {
			continue
		}
		st, err := a.Store.Status()
		if err != nil {
			continue
		}
		v := raftView{leader: st.LeaderID, servers: map[string]consensus.Suffrage{}}
		for _, sv := range st.Servers {
			v.servers[sv.ID] = sv.Suffrage
		}
		out[name] = v
	}
	return out
}

// requireOneCluster waits until every running control-plane node agrees on
// one leader and exactly the given voters (and no non-voters).
func (c *testCluster) requireOneCluster(voters []string, within time.Duration) {
	c.t.Helper()
	want := map[string]consensus.Suffrage{}
	for _, v := range voters {
		want[v] = consensus.Voter
	}
	require.EventuallyWithT(c.t, func(ct *assert.CollectT) {
		views := c.views()
		leaders := map[string]bool{}
		for name, v := range views {
			assert.Equal(ct, want, v.servers, "servers seen by %s", name)
			leaders[v.leader] = true
		}
		assert.Len(ct, leaders, 1, "leaders: %v", leaders)
		assert.NotContains(ct, leaders, "")
		isLeader := 0
		c.mu.Lock()
		for _, a := range c.agents {
			if a.Store != nil && a.Store.IsLeader() {
				isLeader++
			}
		}
		c.mu.Unlock()
		assert.Equal(ct, 1, isLeader, "nodes that believe they lead")
	}, within, 20*time.Millisecond)
}

func (c *testCluster) leaderStore() *consensus.Store {
	c.t.Helper()
	var s *consensus.Store
	require.Eventually(c.t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, a := range c.agents {
			if a.Store != nil && a.Store.IsLeader() {
				s = a.Store
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)
	return s
}

func TestSimultaneousStartFormsOneCluster(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 3
	}
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d-controlplanes", n), func(t *testing.T) {
			for r := range rounds {
				t.Run(fmt.Sprint("round", r), func(t *testing.T) {
					c := newTestCluster(t, fmt.Sprintf("s%d-%d", n, r), n)
					names := c.startControlPlanes(n)
					c.requireOneCluster(names, 20*time.Second)
				})
			}
		})
	}
}

func TestWorkersNeverBecomeRaftMembers(t *testing.T) {
	c := newTestCluster(t, "workers", 3)
	names := c.startControlPlanes(3)
	c.start("w1", gossip.RoleWorker)
	c.start("w2", gossip.RoleWorker)
	c.requireOneCluster(names, 20*time.Second)
	require.Eventually(t, func() bool {
		return len(c.agents["cp1"].Gossip().Members()) == 5
	}, 10*time.Second, 20*time.Millisecond)
	// Over many autopilot rounds (every 100 ms), the workers never appear.
	require.Never(t, func() bool {
		v := c.views()["cp1"]
		_, w1 := v.servers["w1"]
		_, w2 := v.servers["w2"]
		return w1 || w2
	}, 2*time.Second, 50*time.Millisecond)
	c.requireOneCluster(names, 5*time.Second)
	assert.Nil(t, c.agents["w1"].Store)
}

func TestLateControlPlaneBecomesNonvoterThenVoter(t *testing.T) {
	c := newTestCluster(t, "late", 3)
	names := c.startControlPlanes(3)
	c.requireOneCluster(names, 20*time.Second)

	// The 4th node is given one seed and does not bootstrap (expect=3, and
	// its peers have raft state); the leader adds it as a non-voter...
	cfg := c.config("cp4", gossip.RoleControlPlane)
	cfg.Seeds = []string{c.agents["cp2"].cfg.GossipAddr}
	c.startWith(cfg)
	sawNonvoter := false
	require.Eventually(t, func() bool {
		v := c.views()["cp1"]
		if v.servers["cp4"] == consensus.Nonvoter {
			sawNonvoter = true
		}
		return v.servers["cp4"] == consensus.Voter
	}, 20*time.Second, 5*time.Millisecond)
	require.True(t, sawNonvoter, "cp4 must be a non-voter before it is promoted")
	// ...and promotes it after the stabilization time.
	c.requireOneCluster(append(names, "cp4"), 20*time.Second)
}

func TestDeadVoterRemovedAndWritesContinue(t *testing.T) {
	c := newTestCluster(t, "dead", 3)
	names := c.startControlPlanes(3)
	c.requireOneCluster(names, 20*time.Second)

	leader := c.leaderStore()
	victim := "cp1"
	if leader.NodeID() == victim {
		victim = "cp2"
	}
	c.stop(victim)
	var rest []string
	for _, n := range names {
		if n != victim {
			rest = append(rest, n)
		}
	}
	c.requireOneCluster(rest, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.leaderStore().Put(ctx, "T", "after-removal", []byte("ok"))
	require.NoError(t, err)
}

func TestRestartAtNewAddressReplacesEntry(t *testing.T) {
	c := newTestCluster(t, "moved", 3)
	names := c.startControlPlanes(3)
	c.requireOneCluster(names, 20*time.Second)

	leader := c.leaderStore()
	mover := "cp3"
	if leader.NodeID() == mover {
		mover = "cp2"
	}
	cfg := c.agents[mover].cfg
	c.stop(mover)
	// Same name and data, new host: the leader replaces the stale entry.
	host := nextHost()
	cfg.GossipAddr = net.JoinHostPort(host, fmt.Sprint(gossip.DefaultPort))
	cfg.RaftAddr = net.JoinHostPort(host, fmt.Sprint(consensus.DefaultRaftPort))
	cfg.RaftTLS = c.raftTLS(mover, host)
	c.startWith(cfg)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st, err := c.leaderStore().Status()
		require.NoError(ct, err)
		for _, sv := range st.Servers {
			if sv.ID == mover {
				assert.Equal(ct, cfg.RaftAddr, sv.Address)
				assert.Equal(ct, consensus.Voter, sv.Suffrage)
			}
		}
	}, 30*time.Second, 20*time.Millisecond)
	c.requireOneCluster(names, 20*time.Second)
}

func TestWrongKeyNeverJoins(t *testing.T) {
	c := newTestCluster(t, "keyed", 3)
	names := c.startControlPlanes(3)
	c.requireOneCluster(names, 20*time.Second)

	cfg := c.config("intruder", gossip.RoleControlPlane)
	cfg.GossipKey = bytes.Repeat([]byte("x"), 32)
	cfg.Expect = 1 // even willing to bootstrap alone, it must not join ours
	intruder := c.startWith(cfg)
	require.Never(t, func() bool {
		for _, m := range c.agents["cp1"].Gossip().Members() {
			if m.Name == "intruder" {
				return true
			}
		}
		_, inRaft := c.views()["cp1"].servers["intruder"]
		return inRaft
	}, 3*time.Second, 50*time.Millisecond)
	assert.NotZero(t, intruder.Gossip().Status().JoinAttempts)
}

func TestTwoClustersOnOneNetworkStayApart(t *testing.T) {
	a := newTestCluster(t, "alpha", 3)
	b := newTestCluster(t, "bravo", 3)
	namesA := a.startControlPlanes(3)
	// Cluster B is (mis)seeded with one of A's addresses as well as its own.
	var cfgs []Config
	for i := range 3 {
		cfgs = append(cfgs, b.config(fmt.Sprintf("cp%d", i+1), gossip.RoleControlPlane))
	}
	b.seeds = []string{a.agents["cp1"].cfg.GossipAddr, cfgs[0].GossipAddr}
	for _, cfg := range cfgs {
		cfg.Seeds = b.seeds
		b.startWith(cfg)
	}
	a.requireOneCluster(namesA, 20*time.Second)
	b.requireOneCluster(namesA, 20*time.Second) // same names, separate clusters
	for _, m := range a.agents["cp1"].Gossip().Members() {
		assert.Equal(t, a.hosts[m.Name], m.Addr.Addr().String(), "cluster A sees a member of B: %s", m.Name)
	}
}

// TestScale3Voters97Workers: 100 agents in one process — 3 control planes
// and 97 workers — converge: every member sees all 100 alive, and Raft has
// exactly the 3 voters. Probing uses the LAN timings, as in the gossip scale
// test, so a loaded CI machine does not fake failures.
func TestScale3Voters97Workers(t *testing.T) {
	if testing.Short() {
		t.Skip("100 agents; skipped with -short")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(400)) // one heap for 100 nodes: see gossip/scale_test.go
	c := newTestCluster(t, "scale", 3)
	lan := gossip.DefaultConfig()
	withLAN := func(cfg Config) Config {
		cfg.Profile.Gossip.ProbeInterval, cfg.Profile.Gossip.ProbeTimeout = lan.ProbeInterval, lan.ProbeTimeout
		cfg.Profile.Gossip.SuspicionMult, cfg.Profile.Gossip.SuspicionMaxTimeoutMult = lan.SuspicionMult, lan.SuspicionMaxTimeoutMult
		return cfg
	}
	start := time.Now()
	var cps []string
	var cfgs []Config
	for i := range 3 {
		name := fmt.Sprintf("cp%d", i+1)
		cps = append(cps, name)
		cfgs = append(cfgs, withLAN(c.config(name, gossip.RoleControlPlane)))
	}
	c.seeds = []string{cfgs[0].GossipAddr}
	for _, cfg := range cfgs {
		cfg.Seeds = c.seeds
		c.startWith(cfg)
	}
	for i := range 97 {
		cfg := withLAN(c.config(fmt.Sprintf("w%02d", i), gossip.RoleWorker))
		cfg.Seeds = c.seeds
		c.startWith(cfg)
	}
	t.Logf("started 100 agents in %s", time.Since(start).Round(time.Millisecond))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for name, a := range c.agents {
			alive := 0
			for _, m := range a.Gossip().Members() {
				if m.State == gossip.StateAlive {
					alive++
				}
			}
			if !assert.Equal(ct, 100, alive, "members %s sees alive", name) {
				return
			}
		}
	}, 90*time.Second, 100*time.Millisecond)
	c.requireOneCluster(cps, 30*time.Second)
	t.Logf("100 agents (3 voters, 97 workers) converged in %s", time.Since(start).Round(time.Millisecond))
	c.closeAll()
	testutil.WaitNoLeaks(t, testutil.RaftLeak)
}

// The leader is stopped long enough to be removed from Raft and restarted
// with the same name, address and data: it must be added back and promoted
// to voter every time (issue 9, item 1: a late heartbeat failure of the
// removed server's replication marked it failing forever).
func TestRestartedLeaderBecomesVoterAgain(t *testing.T) {
	c := newTestCluster(t, "rejoin", 3)
	names := c.startControlPlanes(3)
	c.requireOneCluster(names, 20*time.Second)
	rounds := 10
	if testing.Short() {
		rounds = 2
	}
	for round := range rounds {
		victim := c.leaderStore().NodeID()
		c.mu.Lock()
		cfg := c.agents[victim].cfg
		c.mu.Unlock()
		c.stop(victim)
		var rest []string
		for _, n := range names {
			if n != victim {
				rest = append(rest, n)
			}
		}
		c.requireOneCluster(rest, 30*time.Second)
		c.startWith(cfg)
		c.requireOneCluster(names, 30*time.Second)
		t.Logf("round %d: %s removed, restarted and a voter again", round+1, victim)
	}
}

// A control plane whose state is wiped and that comes back at once, long
// before the dead-server grace period, must not return as the voter it was:
// it forgot its log. Its earlier state is removed and the new one joins as
// a non-voter, then is promoted (issue 9, item 10).
func TestWipedControlPlaneRejoinsAsNewServer(t *testing.T) {
	c := newTestCluster(t, "wiped", 3)
	var cfgs []Config
	for i := range 3 {
		cfg := c.config(fmt.Sprintf("cp%d", i+1), gossip.RoleControlPlane)
		cfg.StateID = fmt.Sprintf("00000000000%d", i+1)
		cfgs = append(cfgs, cfg)
	}
	c.seeds = []string{cfgs[0].GossipAddr, cfgs[1].GossipAddr, cfgs[2].GossipAddr}
	for _, cfg := range cfgs {
		cfg.Seeds = c.seeds
		c.startWith(cfg)
	}
	want := map[string]consensus.Suffrage{"cp1.000000000001": consensus.Voter, "cp2.000000000002": consensus.Voter, "cp3.000000000003": consensus.Voter}
	c.requireServers(want, 20*time.Second)

	victim := cfgs[2]
	if c.leaderStore().NodeID() == RaftID(victim.Name, victim.StateID) {
		victim = cfgs[1]
	}
	c.stop(victim.Name)
	wiped := victim
	wiped.DataDir, wiped.StateID, wiped.Seeds = t.TempDir(), "00000000beef", c.seeds
	sawNonvoter := false
	c.startWith(wiped)
	delete(want, RaftID(victim.Name, victim.StateID))
	want[RaftID(wiped.Name, wiped.StateID)] = consensus.Voter
	require.Eventually(t, func() bool {
		st, err := c.leaderStore().Status()
		if err != nil {
			return false
		}
		for _, sv := range st.Servers {
			if sv.ID == RaftID(wiped.Name, wiped.StateID) && sv.Suffrage == consensus.Nonvoter {
				sawNonvoter = true
			}
			if sv.ID == RaftID(victim.Name, victim.StateID) && sv.Suffrage == consensus.Voter && sawNonvoter {
				t.Errorf("the wiped node's earlier state was still a voter when the new one was added")
			}
		}
		return sawNonvoter
	}, 20*time.Second, 5*time.Millisecond)
	c.requireServers(want, 20*time.Second)
}

// requireServers waits until every running control plane sees exactly
// these servers (by Raft ID) and one leader.
func (c *testCluster) requireServers(want map[string]consensus.Suffrage, within time.Duration) {
	c.t.Helper()
	require.EventuallyWithT(c.t, func(ct *assert.CollectT) {
		leaders := map[string]bool{}
		for name, v := range c.views() {
			assert.Equal(ct, want, v.servers, "servers seen by %s", name)
			leaders[v.leader] = true
		}
		assert.Len(ct, leaders, 1, "leaders: %v", leaders)
		assert.NotContains(ct, leaders, "")
	}, within, 20*time.Millisecond)
}
