package formation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// autopilot runs on the Raft leader only (a consensus.LeaderFunc). Gossip
// events are hints that trigger a round; every round re-reads the Raft
// configuration, so a lost hint or a stale view only delays a change.
type autopilot struct {
	cfg   AutopilotConfig
	log   *slog.Logger
	raft  raftAdmin
	gsp   membership
	now   func() time.Time
	since map[string]time.Time // non-voter → healthy since
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

// reconcile makes one round of changes; errors are joined so one failing
// server does not block the others.
func (a *autopilot) reconcile(ctx context.Context) error {
	st, err := a.raft.Status()
	if err != nil {
		return fmt.Errorf("raft status: %w", err)
	}
	members := map[string]gossip.Member{}
	for _, m := range a.gsp.Members() {
		members[m.Name] = m
	}
	servers := map[string]consensus.ServerStatus{}
	for _, sv := range st.Servers {
		servers[sv.ID] = sv
	}
	now := a.now()
	var errs []error
	errs = append(errs, a.addNew(ctx, members, servers)...)
	errs = append(errs, a.promote(ctx, now, members, servers)...)
	errs = append(errs, a.removeDead(ctx, now, members, servers))
	return errors.Join(errs...)
}

// addNew adds alive control-plane members that Raft does not know as
// non-voters, and replaces an entry whose node came back at a new address.
func (a *autopilot) addNew(ctx context.Context, members map[string]gossip.Member, servers map[string]consensus.ServerStatus) []error {
	var errs []error
	for name, m := range members {
		if m.State != gossip.StateAlive || m.Meta.Role != gossip.RoleControlPlane || !m.Meta.RaftAddr.IsValid() {
			continue // workers never become Raft members
		}
		addr := m.Meta.RaftAddr.String()
		sv, known := servers[name]
		if known && sv.Address == addr {
			continue
		}
		if known {
			if err := a.readdress(ctx, sv, addr); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		a.log.Info("adding non-voter", "node", name, "addr", addr)
		if err := a.raft.AddNonvoter(ctx, name, addr); err != nil {
			errs = append(errs, fmt.Errorf("add non-voter %s: %w", name, err))
		}
		delete(a.since, name)
	}
	return errs
}

// readdress replaces the stale entry of a server that came back under the
// same name at a new address. Raft updates the address of an existing ID in
// place when it is re-added with its current suffrage, so a voter stays a
// voter and the quorum size never dips (removing and re-adding would).
func (a *autopilot) readdress(ctx context.Context, sv consensus.ServerStatus, addr string) error {
	if sv.ID == a.raft.NodeID() {
		return nil
	}
	a.log.Info("replacing stale raft address", "node", sv.ID, "old", sv.Address, "new", addr)
	add := a.raft.AddNonvoter
	if sv.Suffrage == consensus.Voter {
		add = a.raft.AddVoter
	}
	if err := add(ctx, sv.ID, addr); err != nil {
		return fmt.Errorf("update address of %s: %w", sv.ID, err)
	}
	return nil
}

// promote makes a non-voter a voter once it has been alive in gossip and
// healthy in Raft for the stabilization time.
func (a *autopilot) promote(ctx context.Context, now time.Time, members map[string]gossip.Member, servers map[string]consensus.ServerStatus) []error {
	var errs []error
	for name, sv := range servers {
		if sv.Suffrage != consensus.Nonvoter {
			continue
		}
		m, ok := members[name]
		if !ok || m.State != gossip.StateAlive || !sv.Healthy {
			delete(a.since, name)
			continue
		}
		first, ok := a.since[name]
		if !ok {
			a.since[name] = now
			continue
		}
		if now.Sub(first) < a.cfg.Stabilization {
			continue
		}
		a.log.Info("promoting to voter", "node", name, "healthyFor", now.Sub(first).Round(time.Millisecond))
		if err := a.raft.Promote(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("promote %s: %w", name, err))
			continue
		}
		delete(a.since, name)
	}
	return errs
}

// removeDead removes at most one server per round that has been dead (or
// left) in gossip longer than the grace period, and only if the voters that
// remain alive still form a quorum of the smaller configuration.
func (a *autopilot) removeDead(ctx context.Context, now time.Time, members map[string]gossip.Member, servers map[string]consensus.ServerStatus) error {
	voters, aliveVoters := 0, 0
	for name, sv := range servers {
		if sv.Suffrage != consensus.Voter {
			continue
		}
		voters++
		if m, ok := members[name]; name == a.raft.NodeID() || (ok && m.State == gossip.StateAlive) {
			aliveVoters++
		}
	}
	for name, sv := range servers {
		if name == a.raft.NodeID() {
			continue
		}
		m, ok := members[name]
		if !ok || (m.State != gossip.StateDead && m.State != gossip.StateLeft) || m.DownFor(now) < a.cfg.DeadGrace {
			continue
		}
		if sv.Suffrage == consensus.Voter {
			remaining := voters - 1
			if aliveVoters < remaining/2+1 {
				a.log.Warn("not removing dead voter: quorum would be unsafe", "node", name, "voters", voters, "alive", aliveVoters)
				continue
			}
		}
		a.log.Info("removing dead server", "node", name, "downFor", m.DownFor(now).Round(time.Millisecond))
		if err := a.raft.RemoveServer(ctx, name); err != nil {
			return fmt.Errorf("remove dead %s: %w", name, err)
		}
		return nil // at most one per round
	}
	return nil
}
