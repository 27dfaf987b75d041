package formation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
)

// raftAdmin is what the autopilot needs from the Raft store (the leader's).
type raftAdmin interface {
	NodeID() string
	Status() (consensus.Status, error)
	AddNonvoter(ctx context.Context, id, addr string) error
	AddVoter(ctx context.Context, id, addr string) error
	Promote(ctx context.Context, id string) error
	RemoveServer(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, id string) error
}

// AutopilotConfig tunes the leader's membership reconciliation.
type AutopilotConfig struct {
	// Stabilization is how long a non-voter must be alive in gossip and
	// healthy in Raft before it is promoted (default 10s).
	Stabilization time.Duration
	// DeadGrace is how long a voter must be dead in gossip before it is
	// removed (default 30s).
	DeadGrace time.Duration
	// Interval is the reconcile period; gossip hints trigger extra rounds.
	Interval time.Duration
}

func (c AutopilotConfig) withDefaults() AutopilotConfig {
	if c.Stabilization == 0 {
		c.Stabilization = 10 * time.Second
	}
	if c.DeadGrace == 0 {
		c.DeadGrace = 30 * time.Second
	}
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	return c
}

// configuredNodes returns the node names the stored cluster config lists,
// or ok=false while that is unknown (not seeded yet, unreadable).
type configuredNodes func(ctx context.Context) (names map[string]bool, ok bool)

// autopilot runs on the Raft leader only (a consensus.LeaderFunc). Gossip
// events are hints that trigger a round; every round re-reads the Raft
// configuration, so a lost hint or a stale view only delays a change.
//
// Servers are keyed by Raft ID and members by node name; a member's
// current server is RaftID(name, its advertised state ID). A server of that
// name with another ID is an earlier state of the node, wiped since.
type autopilot struct {
	cfg        AutopilotConfig
	log        *slog.Logger
	raft       raftAdmin
	gsp        membership
	configured configuredNodes // nil: every member counts as configured
	now        func() time.Time
	since      map[string]time.Time // non-voter ID → healthy since
}

func newAutopilot(cfg AutopilotConfig, log *slog.Logger, r raftAdmin, g membership) *autopilot {
	return &autopilot{cfg: cfg.withDefaults(), log: log.With("component", "autopilot"), raft: r, gsp: g, now: time.Now}
}

// run is the leader hook: reconcile on every hint and every interval until
// leadership is lost.
func (a *autopilot) run(ctx context.Context) {
	a.since = map[string]time.Time{}
	tick := time.NewTicker(a.cfg.Interval)
	defer tick.Stop()
	for {
		if err := a.reconcile(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("autopilot round failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-a.gsp.Hints():
		case <-tick.C:
		}
	}
}

// view is one round's inputs.
type view struct {
	now        time.Time
	members    map[string]gossip.Member          // by node name
	servers    map[string]consensus.ServerStatus // by Raft ID
	configured map[string]bool                   // nil: unknown, treat all as configured
}

// isConfigured reports whether the cluster config lists the node.
func (v view) isConfigured(name string) bool { return v.configured == nil || v.configured[name] }

// current reports whether server id is the state its node runs now.
func (v view) current(id string) (gossip.Member, bool) {
	m, ok := v.members[NodeName(id)]
	return m, ok && RaftID(m.Name, m.Meta.StateID) == id
}

// reconcile makes one round of changes; errors are joined so one failing
// server does not block the others.
func (a *autopilot) reconcile(ctx context.Context) error {
	st, err := a.raft.Status()
	if err != nil {
		return fmt.Errorf("raft status: %w", err)
	}
	v := view{now: a.now(), members: map[string]gossip.Member{}, servers: map[string]consensus.ServerStatus{}}
	for _, m := range a.gsp.Members() {
		v.members[m.Name] = m
	}
	for _, sv := range st.Servers {
		v.servers[sv.ID] = sv
	}
	if a.configured != nil {
		if names, ok := a.configured(ctx); ok {
			v.configured = names
		}
	}
	var errs []error
	errs = append(errs, a.addNew(ctx, v)...)
	errs = append(errs, a.promote(ctx, v)...)
	errs = append(errs, a.removeOne(ctx, v))
	return errors.Join(errs...)
}

// addNew adds alive, configured control-plane members that Raft does not
// know as non-voters, and replaces an entry whose node came back at a new
// address. A member whose node still has an earlier state in Raft (it was
// wiped) waits until removeOne has removed that one: both would have the
// same address, and the old one must not vote with a forgotten log.
func (a *autopilot) addNew(ctx context.Context, v view) []error {
	var errs []error
	for name, m := range v.members {
		if m.State != gossip.StateAlive || m.Meta.Role != gossip.RoleControlPlane || !m.Meta.RaftAddr.IsValid() || !v.isConfigured(name) {
			continue // workers never become Raft members
		}
		id := RaftID(name, m.Meta.StateID)
		addr := m.Meta.RaftAddr.String()
		sv, known := v.servers[id]
		if known && sv.Address == addr {
			continue
		}
		if known {
			if err := a.readdress(ctx, sv, addr); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if old := v.earlierStates(name, id); len(old) > 0 {
			a.log.Info("waiting for an earlier state of the node to be removed", "peer", name, "new", id, "old", old)
			continue
		}
		a.log.Info("adding non-voter", "peer", name, "server", id, "addr", addr)
		if err := a.raft.AddNonvoter(ctx, id, addr); err != nil {
			errs = append(errs, fmt.Errorf("add non-voter %s: %w", id, err))
		}
		delete(a.since, id)
	}
	return errs
}

// earlierStates lists servers of the node name other than id.
func (v view) earlierStates(name, id string) []string {
	var out []string
	for sid := range v.servers {
		if NodeName(sid) == name && sid != id {
			out = append(out, sid)
		}
	}
	return out
}

// readdress replaces the stale entry of a server that came back under the
// same name at a new address. Raft updates the address of an existing ID in
// place when it is re-added with its current suffrage, so a voter stays a
// voter and the quorum size never dips (removing and re-adding would).
func (a *autopilot) readdress(ctx context.Context, sv consensus.ServerStatus, addr string) error {
	if sv.ID == a.raft.NodeID() {
		return nil
	}
	a.log.Info("replacing stale raft address", "server", sv.ID, "old", sv.Address, "new", addr)
	add := a.raft.AddNonvoter
	if sv.Suffrage == consensus.Voter {
		add = a.raft.AddVoter
	}
	if err := add(ctx, sv.ID, addr); err != nil {
		return fmt.Errorf("update address of %s: %w", sv.ID, err)
	}
	return nil
}

// promote makes a non-voter a voter once it has been alive in gossip (as
// this state of its node) and healthy in Raft for the stabilization time.
func (a *autopilot) promote(ctx context.Context, v view) []error {
	var errs []error
	for id, sv := range v.servers {
		if sv.Suffrage != consensus.Nonvoter {
			continue
		}
		m, ok := v.current(id)
		if !ok || m.State != gossip.StateAlive || !sv.Healthy || !v.isConfigured(m.Name) {
			delete(a.since, id)
			continue
		}
		first, ok := a.since[id]
		if !ok {
			a.since[id] = v.now
			continue
		}
		if v.now.Sub(first) < a.cfg.Stabilization {
			continue
		}
		a.log.Info("promoting to voter", "server", id, "healthyFor", v.now.Sub(first).Round(time.Millisecond))
		if err := a.raft.Promote(ctx, id); err != nil {
			errs = append(errs, fmt.Errorf("promote %s: %w", id, err))
			continue
		}
		delete(a.since, id)
	}
	return errs
}

// removal is a server removeOne may remove, and why.
type removal struct {
	id, reason string
	alive      bool // counted among the alive voters until removed
}

// removeOne removes at most one server per round, and a voter only if the
// voters that remain alive still form a quorum of the smaller
// configuration. Candidates, in order: earlier states of nodes that came
// back wiped (at once: the node itself shows that state is gone), servers
// whose node the cluster config no longer lists, and servers dead (or
// left) in gossip longer than the grace period. The leader never removes
// itself; when the config drops it, it hands leadership on first.
func (a *autopilot) removeOne(ctx context.Context, v view) error {
	self := a.raft.NodeID()
	voters, aliveVoters := 0, 0
	for id, sv := range v.servers {
		if sv.Suffrage != consensus.Voter {
			continue
		}
		voters++
		if m, ok := v.current(id); id == self || (ok && m.State == gossip.StateAlive) {
			aliveVoters++
		}
	}
	if !v.isConfigured(NodeName(self)) {
		a.log.Info("this leader's node is no longer in the cluster config; handing leadership on")
		if err := a.raft.TransferLeadership(ctx, ""); err != nil {
			return fmt.Errorf("hand on leadership before removal: %w", err)
		}
		return nil
	}
	for _, r := range a.removals(v, self) {
		sv := v.servers[r.id]
		if sv.Suffrage == consensus.Voter {
			remaining, alive := voters-1, aliveVoters
			if r.alive {
				alive--
			}
			if alive < remaining/2+1 {
				a.log.Warn("not removing voter: quorum would be unsafe", "server", r.id, "reason", r.reason, "voters", voters, "alive", aliveVoters)
				continue
			}
		}
		a.log.Info("removing server", "server", r.id, "reason", r.reason)
		if err := a.raft.RemoveServer(ctx, r.id); err != nil {
			return fmt.Errorf("remove %s (%s): %w", r.id, r.reason, err)
		}
		return nil // at most one per round
	}
	return nil
}

// removals lists the servers that should go, in removal order.
func (a *autopilot) removals(v view, self string) []removal {
	var replaced, unconfigured, dead []removal
	for id := range v.servers {
		if id == self {
			continue
		}
		name := NodeName(id)
		m, inGossip := v.members[name]
		cur, isCurrent := v.current(id)
		switch {
		case inGossip && !isCurrent && m.State == gossip.StateAlive && m.Meta.Role == gossip.RoleControlPlane:
			replaced = append(replaced, removal{id: id, reason: "its node came back with new state " + RaftID(name, m.Meta.StateID)})
		case !v.isConfigured(name):
			unconfigured = append(unconfigured, removal{id: id, reason: "not in the cluster config", alive: isCurrent && cur.State == gossip.StateAlive})
		case inGossip && (m.State == gossip.StateDead || m.State == gossip.StateLeft) && m.DownFor(v.now) >= a.cfg.DeadGrace:
			dead = append(dead, removal{id: id, reason: fmt.Sprintf("%s in gossip for %s", m.State, m.DownFor(v.now).Round(time.Millisecond))})
		}
	}
	for _, rs := range [][]removal{replaced, unconfigured, dead} {
		slices.SortFunc(rs, func(x, y removal) int { return strings.Compare(x.id, y.id) })
	}
	return slices.Concat(replaced, unconfigured, dead)
}
