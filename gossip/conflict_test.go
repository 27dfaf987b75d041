package gossip

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNameConflictRefused: a second node claiming a live member's name is
// refused on both sides, visibly, and the rightful owner keeps its name,
// address and place in every view.
func TestNameConflictRefused(t *testing.T) {
	c := newTestCluster(t, "conflict", "key a")
	seed := c.add("cp-0", nil)
	c.grow("n", 2, seed)
	requireConverged(t, c.nodes)
	owner, ok := seed.Member("n-1")
	require.True(t, ok)

	impostor := c.start(c.config("n-1"))
	c.nodes = c.nodes[:3]
	ctx := context.Background()
	err := impostor.Join(ctx, []string{seed.Addr()})
	require.ErrorIs(t, err, ErrNameConflict)

	// The claimant learned it lost and stopped.
	st := impostor.Status()
	require.NotNil(t, st.LastConflict)
	require.True(t, st.LastConflict.Local)
	require.ErrorIs(t, impostor.Join(ctx, []string{seed.Addr()}), ErrNameConflict)
	require.ErrorIs(t, impostor.Leave(ctx), ErrNameConflict, "a leave would evict the owner")
	require.ErrorIs(t, impostor.UpdateMeta(ctx, impostor.LocalMeta()), ErrNameConflict)

	// The seed refused the claim and says so. It merges the claimant's
	// state after answering it, so it may be a moment behind the claimant.
	require.Eventually(t, func() bool { return seed.Status().NameConflicts > 0 }, convergeTimeout, tick)
	st = seed.Status()
	require.Equal(t, uint64(1), st.NameConflicts)
	require.Equal(t, &Conflict{
		Name: "n-1", Existing: owner.Addr, Other: st.LastConflict.Other, At: st.LastConflict.At,
	}, st.LastConflict)
	require.Equal(t, impostor.Addr(), st.LastConflict.Other.String())
	require.True(t, c.logs.contains("name conflict refused"))

	// Nothing merged: the owner is still n-1, where it was, everywhere.
	require.True(t, allSeeAlive(c.nodes, 3))
	for _, n := range c.nodes {
		m, ok := n.Member("n-1")
		require.True(t, ok)
		require.Equal(t, owner.Addr, m.Addr)
	}
}
