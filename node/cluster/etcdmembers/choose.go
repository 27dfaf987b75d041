package etcdmembers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cairn-project/cairn/consensus"
)

// changeOne decides at most one change, in DESIGN.md's order (promote a
// ready learner, drop a learner that never started, remove one member, add
// one learner), records it as Pending and then makes it through finish.
func (c *Coordinator) changeOne(ctx context.Context, r *round) error {
	h := c.health(ctx, r, r.rec.Members)
	ch := c.promotion(r, h)
	if ch == nil {
		ch = c.stuckLearner(r, h)
	}
	if ch == nil && r.viewOK {
		ch = c.removal(r, h)
	}
	if ch == nil && r.viewOK {
		ch = c.addition(r)
	}
	if ch == nil {
		return c.rollSettings(ctx, r, h)
	}
	ch.RequestID, ch.Started = consensus.NewRequestID(), r.now
	next := r.rec
	next.Pending = ch
	rec, err := update(ctx, c.cfg.Store, next, ch.RequestID)
	if err != nil {
		return fmt.Errorf("record intent to %s %s: %w", ch.Op, ch.Name, err)
	}
	c.log.Info("etcd membership change recorded", "op", ch.Op, "member", ch.Name, "id", hexID(ch.ID), "reason", ch.Reason)
	c.fault(FaultAfterIntent)
	r.rec = rec
	return c.finish(ctx, r)
}

// health is one pass's answers of each member to a status call.
type health struct {
	members []Member
	status  map[uint64]MemberStatus // members that answered, by ID
}

// health asks every member with a client URL for its status, at once: a
// member that does not answer costs one call timeout, not one each.
func (c *Coordinator) health(ctx context.Context, r *round, members []Member) health {
	h := health{members: members, status: map[uint64]MemberStatus{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range members {
		if m.ID == 0 || m.ClientURL == "" {
			continue
		}
		wg.Go(func() {
			cctx, cancel := c.call(ctx)
			defer cancel()
			st, err := r.cluster.Status(cctx, m.ClientURL)
			if err != nil {
				c.log.Debug("etcd member does not answer", "member", m.Name, "id", hexID(m.ID), "error", err)
				return
			}
			mu.Lock()
			h.status[m.ID] = st
			mu.Unlock()
		})
	}
	wg.Wait()
	return h
}

// inSync reports whether learner id answers and its raft log is within
// etcd's own promotion threshold of the leader's (90%, readyPercentThreshold
// in etcd's server.go), so a promotion is not refused.
func (h health) inSync(id uint64) bool {
	st, ok := h.status[id]
	if !ok {
		return false
	}
	var lead uint64
	for _, s := range h.status {
		if s.ID == s.Leader && !s.Learner {
			lead = s.RaftIndex
			break
		}
		if !s.Learner {
			lead = max(lead, s.RaftIndex)
		}
	}
	return lead > 0 && st.RaftIndex*10 >= lead*9
}

// unsafeToRemove says why removing member id would break the quorum rule,
// or "": never the last member, and a voter only if the healthy voters are
// a majority now (raft commits a configuration change in the old
// configuration; without that quorum etcd cannot remove anyone) and the
// healthy voters left are a majority of the voters left (each change is
// one step of a single-server reconfiguration, Raft dissertation §4.1).
func (h health) unsafeToRemove(id uint64) string {
	if len(h.members) <= 1 {
		return "it is the last member"
	}
	i := slices.IndexFunc(h.members, func(m Member) bool { return m.ID == id })
	if i >= 0 && h.members[i].Learner {
		return "" // a learner does not vote
	}
	voters, healthy := 0, 0
	for _, m := range h.members {
		if m.Learner {
			continue
		}
		voters++
		if _, ok := h.status[m.ID]; ok {
			healthy++
		}
	}
	remaining, left := voters-1, healthy
	if _, ok := h.status[id]; ok {
		left--
	}
	switch {
	case remaining < 1:
		return "it is the last voter"
	case healthy < voters/2+1:
		return fmt.Sprintf("%d of %d voters healthy: etcd has no quorum to commit a change", healthy, voters)
	case left < remaining/2+1:
		return fmt.Sprintf("%d of the %d voters left would be healthy, %d needed", left, remaining, remaining/2+1)
	}
	return ""
}

// promotion promotes a learner that is in sync and whose node still wants
// it (without a view, any in-sync learner: it was added for a reason).
func (c *Coordinator) promotion(r *round, h health) *Change {
	for _, m := range r.rec.Members {
		if !m.Learner || !h.inSync(m.ID) {
			continue
		}
		if n, ok := r.view[m.Name]; r.viewOK && (!ok || n.StateID != m.StateID) {
			continue // the removal rules deal with it
		}
		return &Change{Op: OpPromote, Name: m.Name, StateID: m.StateID, ID: m.ID, PeerURL: m.PeerURL, Reason: "learner in sync"}
	}
	return nil
}

// stuckLearner removes a learner added longer than LearnerStartTimeout ago
// that does not answer: its node never started etcd, and while it exists
// no other learner can be added (etcd allows one by default).
func (c *Coordinator) stuckLearner(r *round, h health) *Change {
	for _, m := range r.rec.Members {
		if !m.Learner || m.AddedAt.IsZero() || r.now.Sub(m.AddedAt) < c.cfg.LearnerStartTimeout {
			continue
		}
		if _, ok := h.status[m.ID]; ok {
			continue
		}
		return &Change{Op: OpRemove, Name: m.Name, StateID: m.StateID, ID: m.ID, PeerURL: m.PeerURL, StartTimeout: true,
			Reason: fmt.Sprintf("learner not started %s after it was added", c.cfg.LearnerStartTimeout)}
	}
	return nil
}

// candidate is a member removal may take, and why.
type candidate struct {
	m      Member
	rank   int // replaced, unconfigured, dead: the order they are taken in
	reason string
}

// removal picks one member to remove: first earlier states of nodes that
// came back reset (the node itself shows that state is gone), then members
// whose node the config no longer lists, then members dead in gossip
// longer than DeadGrace; the first the quorum rule allows. This leader's
// own member is never removed (when its node leaves the config, Raft
// leadership moves on and the next leader removes it).
func (c *Coordinator) removal(r *round, h health) *Change {
	var cands []candidate
	for _, m := range r.rec.Members {
		if m.ID == 0 || (m.Name == c.cfg.Self.Name && m.StateID == c.cfg.Self.StateID) {
			continue
		}
		n, ok := r.view[m.Name]
		switch {
		case !ok:
			cands = append(cands, candidate{m, 1, "not a control plane of the cluster config"})
		case n.Alive && m.StateID != "" && n.StateID != "" && n.StateID != m.StateID:
			cands = append(cands, candidate{m, 0, "its node came back with state " + n.StateID})
		case !n.Alive && !n.DeadSince.IsZero() && r.now.Sub(n.DeadSince) >= c.cfg.DeadGrace:
			cands = append(cands, candidate{m, 2, fmt.Sprintf("dead in gossip since %s", n.DeadSince.Format("15:04:05"))})
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.m.Name, b.m.Name))
	})
	for _, k := range cands {
		if why := h.unsafeToRemove(k.m.ID); why != "" {
			c.log.Warn("not removing etcd member: quorum would be unsafe", "member", k.m.Name, "id", hexID(k.m.ID), "reason", k.reason, "detail", why)
			continue
		}
		return &Change{Op: OpRemove, Name: k.m.Name, StateID: k.m.StateID, ID: k.m.ID, PeerURL: k.m.PeerURL, Reason: k.reason}
	}
	return nil
}

// addition picks one alive control plane that is not a member in its
// current state, while no learner exists: nodes whose learner never
// started last (the longest ago first), then by name. A node whose earlier state is
// still a member waits until removal took that one: both have the same
// peer URL, which etcd refuses twice.
func (c *Coordinator) addition(r *round) *Change {
	if slices.ContainsFunc(r.rec.Members, func(m Member) bool { return m.Learner }) {
		return nil
	}
	names := make([]string, 0, len(r.view))
	for name := range r.view {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(r.rec.StartTimeouts[a].Compare(r.rec.StartTimeouts[b]), strings.Compare(a, b))
	})
	for _, name := range names {
		n := r.view[name]
		if !n.Alive || n.PeerURL == "" || n.StateID == "" {
			continue
		}
		if slices.ContainsFunc(r.rec.Members, func(m Member) bool { return m.Name == name || m.PeerURL == n.PeerURL }) {
			continue
		}
		return &Change{Op: OpAddLearner, Name: name, StateID: n.StateID, PeerURL: n.PeerURL, ClientURL: n.ClientURL,
			Settings: r.settings, Reason: "control plane not an etcd member"}
	}
	return nil
}
