package etcdboot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/consensus"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*deferError).Error"))
}

type testNode struct {
	id, addr, dir string
	store         *consensus.Store
}

// cluster is a set of real Raft stores on loopback, bootstrapped together.
type cluster struct {
	t     testing.TB
	nodes []*testNode
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// newCluster starts n voters and waits for a leader; the one place test
// timings are shrunk is consensus.FastTiming.
func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	c := &cluster{t: t}
	var servers []consensus.Server
	for i := range n {
		nd := &testNode{id: fmt.Sprintf("n%d", i+1), addr: freeAddr(t), dir: filepath.Join(t.TempDir(), "data")}
		c.nodes = append(c.nodes, nd)
		servers = append(servers, consensus.Server{ID: nd.id, Address: nd.addr, Suffrage: consensus.Voter})
	}
	t.Cleanup(c.closeAll)
	for _, nd := range c.nodes {
		c.start(nd)
		require.NoError(t, nd.store.Bootstrap(servers))
	}
	c.leader()
	return c
}

func (c *cluster) start(nd *testNode) {
	c.t.Helper()
	s, err := consensus.Open(consensus.Config{
		NodeID: nd.id, DataDir: nd.dir, BindAddr: nd.addr, Timing: consensus.FastTiming(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(c.t, err)
	nd.store = s
}

func (c *cluster) stop(nd *testNode) {
	c.t.Helper()
	require.NoError(c.t, nd.store.Close())
	nd.store = nil
}

func (c *cluster) closeAll() {
	for _, nd := range c.nodes {
		if nd.store != nil {
			_ = nd.store.Close()
			nd.store = nil
		}
	}
}

// leader waits until exactly one running node leads and serves
// linearizable reads (its establishing barrier is applied), and returns it.
func (c *cluster) leader() *testNode {
	c.t.Helper()
	var lead *testNode
	require.EventuallyWithT(c.t, func(ct *assert.CollectT) {
		var leaders []*testNode
		for _, nd := range c.nodes {
			if nd.store != nil && nd.store.IsLeader() {
				leaders = append(leaders, nd)
			}
		}
		require.Len(ct, leaders, 1)
		_, _, err := leaders[0].store.List(context.Background(), ResourceType, consensus.Linearizable)
		require.NoError(ct, err)
		lead = leaders[0]
	}, 10*time.Second, 10*time.Millisecond)
	return lead
}

func (c *cluster) follower(lead *testNode) *testNode {
	for _, nd := range c.nodes {
		if nd.store != nil && nd != lead {
			return nd
		}
	}
	c.t.Fatal("no running follower")
	return nil
}

func member(name string) Member {
	return Member{Name: name, PeerURL: "https://127.0.0.1:2380"}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// records lists every stored bootstrap record: there must never be more
// than one resource, and its version counts the generations written.
func records(t testing.TB, s *consensus.Store) []consensus.Resource {
	t.Helper()
	rs, _, err := s.List(ctxT(t), ResourceType, consensus.Linearizable)
	require.NoError(t, err)
	return rs
}

// dropFirstAck applies the first Create or Update for real and then reports
// its outcome as unknown, as a leader that lost leadership after the commit
// would.
type dropFirstAck struct {
	*consensus.Store
	dropped bool
}

func (d *dropFirstAck) Create(ctx context.Context, typ, id string, spec []byte, opts ...consensus.WriteOption) (consensus.WriteResult, error) {
	w, err := d.Store.Create(ctx, typ, id, spec, opts...)
	return d.drop(w, err)
}

func (d *dropFirstAck) Update(ctx context.Context, typ, id string, spec []byte, expected uint64, opts ...consensus.WriteOption) (consensus.WriteResult, error) {
	w, err := d.Store.Update(ctx, typ, id, spec, expected, opts...)
	return d.drop(w, err)
}

func (d *dropFirstAck) drop(w consensus.WriteResult, err error) (consensus.WriteResult, error) {
	if err == nil && !d.dropped {
		d.dropped = true
		return consensus.WriteResult{}, fmt.Errorf("test: ack dropped: %w", consensus.ErrOutcomeUnknown)
	}
	return w, err
}
