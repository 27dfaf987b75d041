package gossip

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for the table.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestTable(retention time.Duration) (*table, *fakeClock) {
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	suspicion := func(int) time.Duration { return time.Second }
	return newTable(retention, suspicion, clock.now), clock
}

var testAddr = netip.MustParseAddrPort("127.0.1.1:6441")

func TestTableKeepsDeadMembersForRetention(t *testing.T) {
	tb, clock := newTestTable(time.Hour)
	tb.alive("cp-2", testAddr, testMeta("cp-2"))
	clock.advance(time.Minute)
	tb.down("cp-2")
	diedAt := clock.t

	clock.advance(30 * time.Minute)
	m, ok := tb.get("cp-2")
	require.True(t, ok)
	require.Equal(t, StateDead, m.State)
	require.Equal(t, diedAt, m.Since)
	require.Equal(t, 30*time.Minute, m.DownFor(clock.t))
	require.Equal(t, "cp-2", m.Meta.Name)

	clock.advance(31 * time.Minute)
	require.Empty(t, tb.snapshot())
}

func TestTableRejoinRevivesMember(t *testing.T) {
	tb, clock := newTestTable(time.Hour)
	tb.alive("cp-2", testAddr, testMeta("cp-2"))
	require.True(t, tb.leaveIntent("cp-2"))
	tb.down("cp-2")
	clock.advance(time.Minute)
	tb.alive("cp-2", testAddr, testMeta("cp-2"))
	m, _ := tb.get("cp-2")
	require.Equal(t, StateAlive, m.State)
	require.Zero(t, m.DownFor(clock.t))
	tb.down("cp-2")
	m, _ = tb.get("cp-2")
	require.Equal(t, StateDead, m.State, "an old leave intent must not make a later death a leave")
}

// TestTableLeaveIntentInAnyOrder: the intent and memberlist's leave may
// arrive in either order; both end in StateLeft, and the intent is news
// (relayed) only once.
func TestTableLeaveIntentInAnyOrder(t *testing.T) {
	for name, steps := range map[string][]string{
		"intent first": {"intent", "down"},
		"down first":   {"down", "intent"},
	} {
		t.Run(name, func(t *testing.T) {
			tb, _ := newTestTable(time.Hour)
			tb.alive("cp-2", testAddr, testMeta("cp-2"))
			for _, step := range steps {
				if step == "intent" {
					require.True(t, tb.leaveIntent("cp-2"))
				} else {
					tb.down("cp-2")
				}
			}
			require.False(t, tb.leaveIntent("cp-2"))
			m, _ := tb.get("cp-2")
			require.Equal(t, StateLeft, m.State)
		})
	}
}

func TestTableSuspicion(t *testing.T) {
	tb, _ := newTestTable(time.Hour)
	require.False(t, tb.suspect("unknown"))
	tb.alive("cp-2", testAddr, testMeta("cp-2"))
	require.True(t, tb.suspect("cp-2"))
	require.False(t, tb.suspect("cp-2"))
	require.Equal(t, 1, tb.countAlive(), "a suspect still counts as a member")
	require.True(t, tb.acked("cp-2"))
	m, _ := tb.get("cp-2")
	require.Equal(t, StateAlive, m.State)
	tb.down("cp-2")
	require.False(t, tb.suspect("cp-2"), "the dead are not suspected")
}

// TestTableSuspicionExpires: memberlist says nothing when a suspect refutes
// with unchanged metadata, so the suspicion lapses after memberlist's
// longest suspicion timeout.
func TestTableSuspicionExpires(t *testing.T) {
	tb, clock := newTestTable(time.Hour)
	tb.alive("cp-2", testAddr, testMeta("cp-2"))
	require.True(t, tb.suspect("cp-2"))
	clock.advance(time.Second)
	m, _ := tb.get("cp-2")
	require.Equal(t, StateSuspect, m.State)
	clock.advance(time.Millisecond)
	m, _ = tb.get("cp-2")
	require.Equal(t, StateAlive, m.State)
}
