package gossip

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFiveNodesConverge: five nodes join through one seed and every one of
// them ends up seeing all five alive, with their metadata.
func TestFiveNodesConverge(t *testing.T) {
	c := newTestCluster(t, "converge", "key a")
	seed := c.add("cp-0", nil)
	c.grow("node", 4, seed)
	requireConverged(t, c.nodes)

	for _, n := range c.nodes {
		for _, m := range n.Members() {
			require.Equal(t, m.Name, m.Meta.Name)
			require.Equal(t, RoleControlPlane, m.Meta.Role)
			require.True(t, m.Addr.IsValid())
		}
	}
	require.True(t, seed.Status().Joined)
}

// TestHintOnJoin: a join wakes a consumer of Hints, and Hints never blocks
// gossip however many changes pile up unread.
func TestHintOnJoin(t *testing.T) {
	c := newTestCluster(t, "hints", "key a")
	seed := c.add("cp-0", nil)
	// Drain what the node's own start produced.
	select {
	case <-seed.Hints():
	default:
	}
	c.grow("node", 3, seed)
	select {
	case <-seed.Hints():
	case <-time.After(convergeTimeout):
		t.Fatal("no hint after three joins")
	}
	requireConverged(t, c.nodes)
}

func TestMetaUpdatePropagates(t *testing.T) {
	c := newTestCluster(t, "meta", "key a")
	seed := c.add("cp-0", nil)
	c.grow("node", 3, seed)
	requireConverged(t, c.nodes)

	changed := c.nodes[2]
	meta := changed.LocalMeta()
	meta.ConfigRevision = 42
	meta.HasRaftState = true
	meta.Leader = "cp-0"
	meta.Health = "degraded: kubelet"
	ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
	defer cancel()
	require.NoError(t, changed.UpdateMeta(ctx, meta))

	require.Eventually(t, func() bool {
		for _, n := range c.nodes {
			m, ok := n.Member(changed.Name())
			if !ok || m.Meta != meta {
				return false
			}
		}
		return true
	}, convergeTimeout, tick)
}

func TestUpdateMetaRejectsOversizedMeta(t *testing.T) {
	c := newTestCluster(t, "meta-size", "key a")
	n := c.add("cp-0", nil)
	meta := n.LocalMeta()
	meta.Health = string(make([]byte, MetaMaxSize))
	err := n.UpdateMeta(context.Background(), meta)
	require.ErrorIs(t, err, ErrMetaTooLarge)
	require.Equal(t, "ok", n.LocalMeta().Health, "a refused update must not half-apply")
}

// TestJoinRetriesUntilSeedStarts: a node told to join a seed that is not up
// yet keeps retrying, with backoff, and joins once the seed starts.
func TestJoinRetriesUntilSeedStarts(t *testing.T) {
	c := newTestCluster(t, "retry", "key a")
	seedCfg := c.config("cp-0")
	seedCfg.BindPort = freePort(t, seedCfg.BindAddr)
	seedAddr := net.JoinHostPort(seedCfg.BindAddr, strconv.Itoa(seedCfg.BindPort))

	joiner := c.add("cp-1", nil)
	joined := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), convergeTimeout)
		defer cancel()
		joined <- joiner.Join(ctx, []string{seedAddr})
	}()
	require.Eventually(t, func() bool { return joiner.Status().JoinAttempts >= 2 }, convergeTimeout, tick)

	c.start(seedCfg)
	require.NoError(t, <-joined)
	requireConverged(t, c.nodes)
}

func TestJoinGivesUpWhenContextEnds(t *testing.T) {
	c := newTestCluster(t, "give-up", "key a")
	n := c.add("cp-0", nil)
	nowhere := net.JoinHostPort(nextAddr(), strconv.Itoa(freePort(t, "127.0.0.1")))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := n.Join(ctx, []string{nowhere})
	require.ErrorIs(t, err, ErrJoinFailed)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	st := n.Status()
	require.Greater(t, st.JoinAttempts, uint64(1))
	require.NotEmpty(t, st.LastJoinError)
	require.False(t, st.Joined)
}

// TestJoinSkipsSelf: the first node of a cluster, given itself as seed,
// does not "join" itself; it waits to be joined.
func TestJoinSkipsSelf(t *testing.T) {
	c := newTestCluster(t, "self", "key a")
	n := c.add("cp-0", nil)
	require.NoError(t, n.Join(context.Background(), []string{n.Addr()}))
	require.Zero(t, n.Status().JoinAttempts)
}

func TestClosedNodeRefusesWork(t *testing.T) {
	c := newTestCluster(t, "closed", "key a")
	n := c.add("cp-0", nil)
	require.NoError(t, n.Close())
	require.NoError(t, n.Close(), "Close is idempotent")
	ctx := context.Background()
	require.ErrorIs(t, n.Join(ctx, []string{"127.0.0.1:1"}), ErrClosed)
	require.ErrorIs(t, n.UpdateMeta(ctx, n.LocalMeta()), ErrClosed)
	require.ErrorIs(t, n.Leave(ctx), ErrClosed)
}

// freePort returns a port free for both TCP and UDP on addr, for tests that
// must know a node's address before it starts.
func freePort(t testing.TB, addr string) int {
	t.Helper()
	for {
		tl, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		require.NoError(t, err)
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", net.JoinHostPort(addr, strconv.Itoa(port)))
		require.NoError(t, tl.Close())
		if err == nil {
			require.NoError(t, ul.Close())
			return port
		}
	}
}
