package linebuf

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRing checks the ring buffer's tail before and after it wraps.
func TestRing(t *testing.T) {
	r := newRing(3, 0)
	require.Empty(t, r.last(-1))
	r.add("a")
	r.add("b")
	require.Equal(t, []string{"a", "b"}, r.last(-1))
	require.Equal(t, []string{"b"}, r.last(1))
	for _, l := range []string{"c", "d", "e"} {
		r.add(l)
	}
	require.Equal(t, []string{"c", "d", "e"}, r.last(-1))
	require.Equal(t, []string{"d", "e"}, r.last(2))
	require.Equal(t, []string{"c", "d", "e"}, r.last(10))
	require.Empty(t, r.last(0))
}

// TestRingReportsWhatItLoses checks add's count, which is what a follower
// is told it lost.
func TestRingReportsWhatItLoses(t *testing.T) {
	r := newRing(2, 0)
	require.Zero(t, r.add("a"))
	require.Zero(t, r.add("b"))
	require.Equal(t, 1, r.add("c"))
	require.Equal(t, []string{"b", "c"}, r.take())
	require.Empty(t, r.last(-1), "take empties the ring")
	require.Zero(t, r.add("d"), "and frees its room")

	none := newRing(0, 0)
	require.Equal(t, 1, none.add("a"), "a ring that holds nothing loses every line")
	require.Empty(t, none.last(-1))
}

// TestRingByteBound keeps the line bound and the byte bound both, evicting
// no more than it must, and cuts a line longer than the byte bound.
func TestRingByteBound(t *testing.T) {
	r := newRing(10, 10)
	r.add("aaaa")
	r.add("bbbb")
	require.Equal(t, 1, r.add("cccc"), "12 bytes would not fit")
	require.Equal(t, []string{"bbbb", "cccc"}, r.last(-1))
	require.Zero(t, r.add("dd"), "exactly 10 bytes fit")
	require.Equal(t, []string{"bbbb", "cccc", "dd"}, r.last(-1))

	require.Equal(t, 3, r.add(strings.Repeat("x", 25)))
	require.Equal(t, []string{strings.Repeat("x", 10)}, r.last(-1), "cut, not dropped")

	unbounded := newRing(2, 0)
	unbounded.add(strings.Repeat("y", 1<<16))
	require.Len(t, unbounded.last(-1)[0], 1<<16, "no byte bound: lines are kept whole")
}
