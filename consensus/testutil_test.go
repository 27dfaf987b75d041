package consensus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// addrSeq hands out loopback addresses: every test node gets its own
// 127.x.y.z at the real Raft port, as on real hosts. The second octet is
// per-process and an address already bound elsewhere is skipped, so
// concurrently running test binaries do not collide.
var addrSeq atomic.Uint32

func nextAddr() string {
	for {
		n := addrSeq.Add(1)
		addr := fmt.Sprintf("127.%d.%d.%d:%d", 100+os.Getpid()%100, n/250%250, n%250+1, DefaultRaftPort)
		if ln, err := net.Listen("tcp", addr); err == nil {
			_ = ln.Close()
			return addr
		}
	}
}

// testLogger writes to the test log only when CAIRN_TEST_LOG is set; raft
// is chatty and failures print their own context.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("CAIRN_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testConfig is the one place test timeouts are shrunk.
func testConfig(t testing.TB, id, addr, dir string) Config {
	return Config{
		NodeID:   id,
		DataDir:  dir,
		BindAddr: addr,
		Timing:   FastTiming(),
		Logger:   testLogger(t).With("node", id),
	}
}

type testNode struct {
	id, addr, dir string
	store         *Store
}

type testCluster struct {
	t     testing.TB
	nodes []*testNode
	net   *faultNet
	tweak func(*Config)
}

// newCluster starts n voters bootstrapped together and waits for a leader.
func newCluster(t testing.TB, n int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, net: newFaultNet(), tweak: tweak}
	var servers []Server
	for i := range n {
		nd := &testNode{id: fmt.Sprintf("n%d", i+1), addr: nextAddr(), dir: filepath.Join(t.TempDir(), "data")}
		c.nodes = append(c.nodes, nd)
		servers = append(servers, Server{ID: nd.id, Address: nd.addr, Suffrage: Voter})
	}
	for _, nd := range c.nodes {
		c.start(nd)
		require.NoError(t, nd.store.Bootstrap(servers))
	}
	t.Cleanup(c.closeAll)
	c.leader()
	return c
}

func (c *testCluster) config(nd *testNode) Config {
	cfg := testConfig(c.t, nd.id, nd.addr, nd.dir)
	cfg.WrapStream = c.net.wrap(nd.addr)
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

func (c *testCluster) start(nd *testNode) {
	c.t.Helper()
	s, err := Open(c.config(nd))
	require.NoError(c.t, err)
	nd.store = s
}

func (c *testCluster) stop(nd *testNode) {
	c.t.Helper()
	require.NoError(c.t, nd.store.Close())
	nd.store = nil
}

func (c *testCluster) closeAll() {
	for _, nd := range c.nodes {
		if nd.store != nil {
			_ = nd.store.Close()
			nd.store = nil
		}
	}
}

func (c *testCluster) running() []*testNode {
	var out []*testNode
	for _, nd := range c.nodes {
		if nd.store != nil {
			out = append(out, nd)
		}
	}
	return out
}

// leader waits until exactly one running node leads and has established
// leadership, and returns it.
func (c *testCluster) leader() *testNode {
	c.t.Helper()
	var lead *testNode
	require.EventuallyWithT(c.t, func(ct *assert.CollectT) {
		var leaders []*testNode
		for _, nd := range c.running() {
			if nd.store.IsLeader() {
				leaders = append(leaders, nd)
			}
		}
		require.Len(ct, leaders, 1)
		lead = leaders[0]
	}, 10*time.Second, 10*time.Millisecond)
	return lead
}

// followers returns the running nodes other than the leader.
func (c *testCluster) followers(lead *testNode) []*testNode {
	var out []*testNode
	for _, nd := range c.running() {
		if nd != lead {
			out = append(out, nd)
		}
	}
	return out
}

// waitConverged waits until every running node has applied the leader's revision.
func (c *testCluster) waitConverged(rev uint64) {
	c.t.Helper()
	require.EventuallyWithT(c.t, func(ct *assert.CollectT) {
		for _, nd := range c.running() {
			assert.GreaterOrEqual(ct, nd.store.Revision(), rev, nd.id)
		}
	}, 10*time.Second, 10*time.Millisecond)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// faultNet is a transport wrapper that drops traffic between partitions.
// Dials across a partition fail; on every partition change, all existing
// connections are closed so that only allowed ones are re-established.
type faultNet struct {
	mu    sync.Mutex
	group map[string]int // addr → partition group; absent = group 0
	conns map[net.Conn]struct{}
}

func newFaultNet() *faultNet {
	return &faultNet{group: map[string]int{}, conns: map[net.Conn]struct{}{}}
}

// partition puts each listed set of addresses in its own group; everyone
// else stays in group 0.
func (f *faultNet) partition(groups ...[]string) {
	f.mu.Lock()
	f.group = map[string]int{}
	for i, g := range groups {
		for _, a := range g {
			f.group[a] = i + 1
		}
	}
	conns := f.conns
	f.conns = map[net.Conn]struct{}{}
	f.mu.Unlock()
	for conn := range conns {
		_ = conn.Close()
	}
}

func (f *faultNet) heal() { f.partition() }

func (f *faultNet) blocked(a, b string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.group[a] != f.group[b]
}

func (f *faultNet) track(conn net.Conn) {
	f.mu.Lock()
	f.conns[conn] = struct{}{}
	f.mu.Unlock()
}

func (f *faultNet) wrap(owner string) func(raft.StreamLayer) raft.StreamLayer {
	return func(inner raft.StreamLayer) raft.StreamLayer {
		return &faultStream{StreamLayer: inner, net: f, owner: owner}
	}
}

type faultStream struct {
	raft.StreamLayer
	net   *faultNet
	owner string
}

func (s *faultStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.net.blocked(s.owner, string(addr)) {
		return nil, fmt.Errorf("fault injection: %s cannot reach %s", s.owner, addr)
	}
	conn, err := s.StreamLayer.Dial(addr, timeout)
	if err == nil {
		s.net.track(conn)
	}
	return conn, err
}

func (s *faultStream) Accept() (net.Conn, error) {
	conn, err := s.StreamLayer.Accept()
	if err == nil {
		s.net.track(conn)
	}
	return conn, err
}
