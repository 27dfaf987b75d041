package gossip

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its test: every
// node is closed in a t.Cleanup, and memberlist's goroutines stop on Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// convergeTimeout bounds waits for gossip to converge. It is a deadline
// for a hung test on a loaded machine, not a speed assertion.
const convergeTimeout = 20 * time.Second

// tick is how often require.Eventually re-checks a view.
const tick = 10 * time.Millisecond

// addrSeq hands every test node its own loopback address, 127.0.N.M with
// N from 1 (127.0.0.x is left to other packages' tests), as on a local
// Cairn cluster. Linux routes all of 127.0.0.0/8 to lo.
var addrSeq atomic.Uint32

func nextAddr() string {
	i := addrSeq.Add(1) - 1
	return fmt.Sprintf("127.0.%d.%d", 1+(i/250)%250, 1+i%250)
}

// testKey derives a gossip key from a word, so tests read as "key a".
func testKey(word string) []byte {
	sum := sha256.Sum256([]byte(word))
	return sum[:]
}

// testMeta is a plausible control-plane advertisement for name.
func testMeta(name string) Meta {
	return Meta{
		Role:     RoleControlPlane,
		APIAddr:  netip.MustParseAddrPort("10.0.0.1:6440"),
		RaftAddr: netip.MustParseAddrPort("10.0.0.1:6442"),
		Version:  "v0.1.0",
		BootSlot: "A",
		Health:   "ok",
	}
}

// logSink keeps the last lines a test's nodes logged and prints them only
// if the test fails. Nodes log from their own goroutines, possibly after
// the test returns, so it never calls t.Log from a handler.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	const keep = 400
	if len(s.lines) == keep {
		s.lines = s.lines[1:]
	}
	s.lines = append(s.lines, string(bytes.TrimSpace(p)))
	return len(p), nil
}

func (s *logSink) contains(substr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

// testLogger returns a logger for t's nodes and the sink behind it.
func testLogger(t testing.TB) (*slog.Logger, *logSink) {
	sink := &logSink{}
	t.Cleanup(func() {
		if t.Failed() {
			sink.mu.Lock()
			defer sink.mu.Unlock()
			t.Logf("last %d log lines:\n%s", len(sink.lines), strings.Join(sink.lines, "\n"))
		}
	})
	return slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelInfo})), sink
}

// testCluster builds nodes that share a cluster ID, a key and a logger.
type testCluster struct {
	t         testing.TB
	clusterID string
	key       []byte
	log       *slog.Logger
	logs      *logSink
	nodes     []*Node
	// profile, when set, adjusts each node's config (the scale test uses
	// LAN probe timings).
	profile func(*Config)
}

func newTestCluster(t testing.TB, clusterID, key string) *testCluster {
	log, sink := testLogger(t)
	return &testCluster{t: t, clusterID: clusterID, key: testKey(key), log: log, logs: sink}
}

// config returns TestConfig for a node of this cluster on a fresh address.
func (c *testCluster) config(name string) Config {
	cfg := TestConfig()
	cfg.Name = name
	cfg.ClusterID = c.clusterID
	cfg.Key = c.key
	cfg.Meta = testMeta(name)
	cfg.Logger = c.log
	cfg.BindAddr = nextAddr()
	if c.profile != nil {
		c.profile(&cfg)
	}
	return cfg
}

// start starts a node from cfg and closes it when the test ends.
func (c *testCluster) start(cfg Config) *Node {
	c.t.Helper()
	n, err := New(cfg)
	require.NoError(c.t, err)
	c.t.Cleanup(func() { require.NoError(c.t, n.Close()) })
	c.nodes = append(c.nodes, n)
	return n
}

// add starts a node named name and joins it to seed (unless seed is nil).
func (c *testCluster) add(name string, seed *Node) *Node {
	c.t.Helper()
	n := c.start(c.config(name))
	if seed != nil {
		join(c.t, n, seed)
	}
	return n
}

// grow adds count nodes named prefix-i, each joining seed, concurrently.
func (c *testCluster) grow(prefix string, count int, seed *Node) []*Node {
	c.t.Helper()
	added := make([]*Node, count)
	for i := range added {
		added[i] = c.start(c.config(fmt.Sprintf("%s-%d", prefix, i)))
	}
	var wg sync.WaitGroup
	errs := make([]error, count)
	for i, n := range added {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
			defer cancel()
			errs[i] = n.Join(ctx, []string{seed.Addr()})
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(c.t, err)
	}
	return added
}

func join(t testing.TB, n, seed *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	require.NoError(t, n.Join(ctx, []string{seed.Addr()}))
}

// countState returns how many members of n's view are in state st.
func countState(n *Node, st State) int {
	count := 0
	for _, m := range n.Members() {
		if m.State == st {
			count++
		}
	}
	return count
}

// allSeeAlive reports whether every node sees exactly want members alive.
func allSeeAlive(nodes []*Node, want int) bool {
	for _, n := range nodes {
		if countState(n, StateAlive) != want {
			return false
		}
	}
	return true
}

// requireConverged waits until every node sees every node alive.
func requireConverged(t testing.TB, nodes []*Node) {
	t.Helper()
	requireConvergedWithin(t, nodes, convergeTimeout)
}

func requireConvergedWithin(t testing.TB, nodes []*Node, timeout time.Duration) {
	t.Helper()
	if !assert.Eventually(t, func() bool { return allSeeAlive(nodes, len(nodes)) }, timeout, tick) {
		t.Fatalf("%d nodes did not converge: %s", len(nodes), viewSummary(nodes))
	}
}

// viewSummary says how far from convergence the nodes are: the spread of
// alive counts and the states seen, for a failure message.
func viewSummary(nodes []*Node) string {
	lo, hi := len(nodes)+1, -1
	states := map[State]int{}
	for _, n := range nodes {
		alive := countState(n, StateAlive)
		lo, hi = min(lo, alive), max(hi, alive)
		for _, m := range n.Members() {
			states[m.State]++
		}
	}
	return fmt.Sprintf("alive counts %d..%d; member states seen %v", lo, hi, states)
}
