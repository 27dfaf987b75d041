package formation

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
)

func cp(name, raft string) gossip.Member {
	return gossip.Member{Name: name, State: gossip.StateAlive, Meta: gossip.Meta{
		Role: gossip.RoleControlPlane, RaftAddr: netip.MustParseAddrPort(raft),
	}}
}

func TestPlanBootstrap(t *testing.T) {
	a, b, c, d := cp("a", "127.0.0.1:1"), cp("b", "127.0.0.2:1"), cp("c", "127.0.0.3:1"), cp("d", "127.0.0.4:1")
	worker := gossip.Member{Name: "w", State: gossip.StateAlive, Meta: gossip.Meta{Role: gossip.RoleWorker}}
	withState := b
	withState.Meta.HasRaftState = true
	dead := c
	dead.State = gossip.StateDead
	abc := []consensus.Server{
		{ID: "a", Address: "127.0.0.1:1", Suffrage: consensus.Voter},
		{ID: "b", Address: "127.0.0.2:1", Suffrage: consensus.Voter},
		{ID: "c", Address: "127.0.0.3:1", Suffrage: consensus.Voter},
	}
	for _, tc := range []struct {
		name       string
		self       string
		members    []gossip.Member
		candidates []string
		servers    []consensus.Server
		done       bool
	}{
		{name: "too few", self: "a", members: []gossip.Member{a, b, worker}},
		{name: "enough", self: "a", members: []gossip.Member{c, a, b, worker}, servers: abc},
		{name: "same list from another node", self: "c", members: []gossip.Member{b, c, a}, servers: abc},
		{name: "more than expect: first names", self: "b", members: []gossip.Member{d, c, b, a}, servers: abc},
		{name: "not chosen", self: "d", members: []gossip.Member{d, c, b, a}, done: true},
		{name: "peer has state", self: "a", members: []gossip.Member{a, withState, c}, done: true},
		{name: "dead does not count", self: "a", members: []gossip.Member{a, b, dead}},
		{name: "candidates wait for named node", self: "a", members: []gossip.Member{a, b, d}, candidates: []string{"a", "b", "c"}},
		{name: "candidates decide", self: "d", members: []gossip.Member{a, d, b}, candidates: []string{"d", "a", "b"},
			servers: []consensus.Server{
				{ID: "d", Address: "127.0.0.4:1", Suffrage: consensus.Voter},
				{ID: "a", Address: "127.0.0.1:1", Suffrage: consensus.Voter},
				{ID: "b", Address: "127.0.0.2:1", Suffrage: consensus.Voter},
			}},
		{name: "not a candidate", self: "c", members: []gossip.Member{a, b, c}, candidates: []string{"a", "b", "d"}, done: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planBootstrap(tc.self, tc.members, 3, tc.candidates)
			assert.Equal(t, tc.servers, p.servers)
			assert.Equal(t, tc.done, p.done, p.reason)
		})
	}
}

// fakeRaft is a stateful in-memory raftAdmin.
type fakeRaft struct {
	self      string
	servers   map[string]consensus.ServerStatus
	removed   []string
	transfers int
}

func (f *fakeRaft) NodeID() string { return f.self }
func (f *fakeRaft) Status() (consensus.Status, error) {
	st := consensus.Status{NodeID: f.self}
	for _, sv := range f.servers {
		st.Servers = append(st.Servers, sv)
	}
	return st, nil
}
func (f *fakeRaft) AddNonvoter(_ context.Context, id, addr string) error {
	f.servers[id] = consensus.ServerStatus{Server: consensus.Server{ID: id, Address: addr, Suffrage: consensus.Nonvoter}, Healthy: true}
	return nil
}
func (f *fakeRaft) AddVoter(_ context.Context, id, addr string) error {
	f.servers[id] = consensus.ServerStatus{Server: consensus.Server{ID: id, Address: addr, Suffrage: consensus.Voter}, Healthy: true}
	return nil
}
func (f *fakeRaft) Promote(_ context.Context, id string) error {
	sv := f.servers[id]
	sv.Suffrage = consensus.Voter
	f.servers[id] = sv
	return nil
}
func (f *fakeRaft) RemoveServer(_ context.Context, id string) error {
	delete(f.servers, id)
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeRaft) TransferLeadership(context.Context, string) error {
	f.transfers++
	return nil
}

type fakeGossip struct{ members []gossip.Member }

func (f *fakeGossip) Members() []gossip.Member { return f.members }
func (f *fakeGossip) Hints() <-chan struct{}   { return nil }

func TestAutopilotRemovesAtMostOneDeadVoterAndKeepsQuorum(t *testing.T) {
	now := time.Unix(1000, 0)
	voter := func(id string) consensus.ServerStatus {
		return consensus.ServerStatus{Server: consensus.Server{ID: id, Suffrage: consensus.Voter}, Healthy: true}
	}
	deadFor := func(name string, d time.Duration) gossip.Member {
		return gossip.Member{Name: name, State: gossip.StateDead, Since: now.Add(-d), Meta: gossip.Meta{Role: gossip.RoleControlPlane}}
	}
	alive := func(name string) gossip.Member {
		return gossip.Member{Name: name, State: gossip.StateAlive, Meta: gossip.Meta{Role: gossip.RoleControlPlane}}
	}
	r := &fakeRaft{self: "a", servers: map[string]consensus.ServerStatus{
		"a": voter("a"), "b": voter("b"), "c": voter("c"), "d": voter("d"), "e": voter("e"), "f": voter("f"),
	}}
	g := &fakeGossip{members: []gossip.Member{
		alive("a"), alive("b"), alive("c"), deadFor("d", time.Minute), deadFor("e", time.Minute), deadFor("f", time.Second),
	}}
	ap := newAutopilot(AutopilotConfig{DeadGrace: 30 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)), r, g)
	ap.now = func() time.Time { return now }
	ap.since = map[string]time.Time{}

	require.NoError(t, ap.reconcile(context.Background()))
	require.Len(t, r.removed, 1, "one removal per round")
	require.NoError(t, ap.reconcile(context.Background()))
	require.Len(t, r.removed, 2)
	assert.ElementsMatch(t, []string{"d", "e"}, r.removed)
	require.NoError(t, ap.reconcile(context.Background()))
	assert.Len(t, r.removed, 2, "f is not past its grace period")

	// a alive; b, c, f dead past grace: removing one would leave 3 voters
	// with 1 alive, below quorum: refused.
	g.members = []gossip.Member{alive("a"), deadFor("b", time.Minute), deadFor("c", time.Minute), deadFor("f", time.Minute)}
	require.NoError(t, ap.reconcile(context.Background()))
	assert.Len(t, r.removed, 2, "quorum guard")
}

func TestAutopilotPromotesAfterStabilization(t *testing.T) {
	now := time.Unix(1000, 0)
	r := &fakeRaft{self: "a", servers: map[string]consensus.ServerStatus{
		"a": {Server: consensus.Server{ID: "a", Suffrage: consensus.Voter}, Healthy: true},
	}}
	g := &fakeGossip{members: []gossip.Member{cp("a", "127.0.0.1:1"), cp("n", "127.0.0.9:1"),
		{Name: "w", State: gossip.StateAlive, Meta: gossip.Meta{Role: gossip.RoleWorker}}}}
	ap := newAutopilot(AutopilotConfig{Stabilization: 10 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)), r, g)
	ap.now = func() time.Time { return now }
	ap.since = map[string]time.Time{}

	require.NoError(t, ap.reconcile(context.Background()))
	require.Equal(t, consensus.Nonvoter, r.servers["n"].Suffrage)
	require.NotContains(t, r.servers, "w", "workers are never added")
	require.NoError(t, ap.reconcile(context.Background())) // starts the clock
	now = now.Add(9 * time.Second)
	require.NoError(t, ap.reconcile(context.Background()))
	require.Equal(t, consensus.Nonvoter, r.servers["n"].Suffrage)
	now = now.Add(2 * time.Second)
	require.NoError(t, ap.reconcile(context.Background()))
	require.Equal(t, consensus.Voter, r.servers["n"].Suffrage)
}

// A node the cluster config no longer lists leaves Raft (one server a round,
// quorum-guarded) and is never added back; a leader that is dropped hands
// leadership on first (issue 9, item 5).
func TestAutopilotRemovesNodesTheConfigDropped(t *testing.T) {
	now := time.Unix(1000, 0)
	voter := func(id string) consensus.ServerStatus {
		return consensus.ServerStatus{Server: consensus.Server{ID: id, Suffrage: consensus.Voter}, Healthy: true}
	}
	r := &fakeRaft{self: "a", servers: map[string]consensus.ServerStatus{"a": voter("a"), "b": voter("b"), "c": voter("c")}}
	g := &fakeGossip{members: []gossip.Member{cp("a", "127.0.0.1:1"), cp("b", "127.0.0.2:1"), cp("c", "127.0.0.3:1"), cp("d", "127.0.0.4:1")}}
	ap := newAutopilot(AutopilotConfig{}, slog.New(slog.NewTextHandler(io.Discard, nil)), r, g)
	ap.now = func() time.Time { return now }
	ap.since = map[string]time.Time{}
	listed := map[string]bool{"a": true, "b": true, "c": true}
	ap.configured = func(context.Context) (map[string]bool, bool) { return listed, true }

	require.NoError(t, ap.reconcile(context.Background()))
	assert.NotContains(t, r.servers, "d", "a node the config does not list is not added")
	assert.Empty(t, r.removed)

	delete(listed, "c")
	require.NoError(t, ap.reconcile(context.Background()))
	assert.Equal(t, []string{"c"}, r.removed)

	delete(listed, "a")
	require.NoError(t, ap.reconcile(context.Background()))
	assert.Equal(t, []string{"c"}, r.removed, "the leader never removes itself")
	assert.Equal(t, 1, r.transfers, "it hands leadership on instead")
}

// A node that came back with new state (wiped) has its earlier server
// removed at once, without the dead grace period, and is then added anew.
func TestAutopilotReplacesAWipedNodesServer(t *testing.T) {
	now := time.Unix(1000, 0)
	voter := func(id string) consensus.ServerStatus {
		return consensus.ServerStatus{Server: consensus.Server{ID: id, Suffrage: consensus.Voter}, Healthy: true}
	}
	r := &fakeRaft{self: "a.01", servers: map[string]consensus.ServerStatus{"a.01": voter("a.01"), "b.02": voter("b.02"), "c.03": voter("c.03")}}
	member := func(name, state, addr string) gossip.Member {
		m := cp(name, addr)
		m.Meta.StateID = state
		return m
	}
	g := &fakeGossip{members: []gossip.Member{member("a", "01", "127.0.0.1:1"), member("b", "02", "127.0.0.2:1"), member("c", "99", "127.0.0.3:1")}}
	ap := newAutopilot(AutopilotConfig{DeadGrace: time.Hour}, slog.New(slog.NewTextHandler(io.Discard, nil)), r, g)
	ap.now = func() time.Time { return now }
	ap.since = map[string]time.Time{}

	require.NoError(t, ap.reconcile(context.Background()))
	assert.Equal(t, []string{"c.03"}, r.removed)
	assert.NotContains(t, r.servers, "c.99", "added only once the earlier state is gone")
	require.NoError(t, ap.reconcile(context.Background()))
	assert.Equal(t, consensus.Nonvoter, r.servers["c.99"].Suffrage)
}
