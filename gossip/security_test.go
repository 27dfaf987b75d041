package gossip

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// joinFails tries to join n to seed for a short while and returns the
// error, which must be ErrJoinFailed.
func joinFails(t *testing.T, n, seed *Node) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := n.Join(ctx, []string{seed.Addr()})
	require.ErrorIs(t, err, ErrJoinFailed)
	return err
}

func memberNames(n *Node) []string {
	var names []string
	for _, m := range n.Members() {
		names = append(names, m.Name)
	}
	return names
}

// TestWrongKeyNeverJoins: a node with another key cannot join, is never in
// anyone's view, and the seed counts what it refused.
func TestWrongKeyNeverJoins(t *testing.T) {
	c := newTestCluster(t, "keys", "key a")
	seed := c.add("cp-0", nil)
	c.grow("node", 2, seed)
	requireConverged(t, c.nodes)

	intruders := newTestCluster(t, "keys", "key b")
	intruder := intruders.add("intruder", nil)
	require.ErrorIs(t, joinFails(t, intruder, seed), ErrKeyMismatch)

	require.Eventually(t, func() bool { return seed.Status().DecryptFailures > 0 }, convergeTimeout, tick)
	for _, n := range c.nodes {
		require.NotContains(t, memberNames(n), "intruder")
	}
	require.Equal(t, []string{"intruder"}, memberNames(intruder))
	require.True(t, c.logs.contains("decrypt"), "the refusal must be logged")
}

// TestClustersWithDifferentIDsStayApart: two clusters sharing a key and a
// loopback range, but not a cluster ID, never merge, even when a node of
// one is pointed at the other.
func TestClustersWithDifferentIDsStayApart(t *testing.T) {
	a := newTestCluster(t, "cluster-a", "shared key")
	b := newTestCluster(t, "cluster-b", "shared key")
	seedA := a.add("cp-0", nil)
	a.grow("a", 2, seedA)
	seedB := b.add("cp-0", nil)
	b.grow("b", 2, seedB)
	requireConverged(t, a.nodes)
	requireConverged(t, b.nodes)

	stray := b.add("stray", nil)
	require.NotErrorIs(t, joinFails(t, stray, seedA), ErrKeyMismatch)
	require.Eventually(t, func() bool { return seedA.Status().LabelMismatches > 0 }, convergeTimeout, tick)

	require.True(t, allSeeAlive(a.nodes, 3))
	require.True(t, allSeeAlive(b.nodes[:3], 3))
	for _, n := range a.nodes {
		require.ElementsMatch(t, []string{"cp-0", "a-0", "a-1"}, memberNames(n))
	}
	require.True(t, a.logs.contains("unacceptable label"), "the refusal must be logged")
}

// TestKeyRotation rotates a live cluster from key a to key b in the three
// rounds keyring.go describes, checking at each step that gossip still
// flows, and that afterwards only key b admits a newcomer.
func TestKeyRotation(t *testing.T) {
	keyA, keyB := testKey("key a"), testKey("key b")
	c := newTestCluster(t, "rotate", "key a")
	seed := c.add("cp-0", nil)
	c.grow("node", 2, seed)
	requireConverged(t, c.nodes)

	revision := uint64(0)
	requireGossipFlows := func() {
		t.Helper()
		revision++
		meta := seed.LocalMeta()
		meta.ConfigRevision = revision
		require.NoError(t, seed.UpdateMeta(context.Background(), meta))
		require.Eventually(t, func() bool {
			for _, n := range c.nodes {
				if m, _ := n.Member(seed.Name()); m.Meta.ConfigRevision != revision {
					return false
				}
			}
			return true
		}, convergeTimeout, tick)
	}

	for _, n := range c.nodes {
		require.NoError(t, n.InstallKey(keyB))
	}
	requireGossipFlows()
	for _, n := range c.nodes {
		require.NoError(t, n.UseKey(keyB))
	}
	requireGossipFlows()
	for _, n := range c.nodes {
		require.ErrorIs(t, n.RemoveKey(keyB), ErrPrimaryKey)
		require.NoError(t, n.RemoveKey(keyA))
		primary, installed := n.KeyIDs()
		require.Equal(t, KeyID(keyB), primary)
		require.Equal(t, []string{KeyID(keyB)}, installed)
	}
	requireGossipFlows()
	require.True(t, allSeeAlive(c.nodes, 3))

	stale := c.add("stale", nil) // the cluster helper still hands out key a
	require.ErrorIs(t, joinFails(t, stale, seed), ErrKeyMismatch)

	fresh := c.config("fresh")
	fresh.Key = keyB
	c.nodes = c.nodes[:3]
	join(t, c.start(fresh), seed)
	requireConverged(t, c.nodes)
}

func TestKeyringErrors(t *testing.T) {
	c := newTestCluster(t, "keyring", "key a")
	n := c.add("cp-0", nil)
	require.ErrorIs(t, n.InstallKey([]byte("short")), ErrInvalidKey)
	require.ErrorIs(t, n.UseKey(testKey("key b")), ErrUnknownKey)
	require.ErrorIs(t, n.RemoveKey(testKey("key b")), ErrUnknownKey)
	require.ErrorIs(t, n.RemoveKey(testKey("key a")), ErrPrimaryKey)
	require.NoError(t, n.InstallKey(testKey("key b")))
	require.NoError(t, n.InstallKey(testKey("key b")), "installing twice is harmless")
	_, installed := n.KeyIDs()
	require.Len(t, installed, 2)
}
