package etcdmembers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// finish completes the recorded change against etcd's actual member list,
// so it is the same code whether this leader recorded the intent a moment
// ago or an earlier leader did and died: a step etcd already shows is not
// sent again. Pending is cleared together with the member list the change
// left, in one compare-and-set.
func (c *Coordinator) finish(ctx context.Context, r *round) error {
	p := *r.rec.Pending
	cctx, cancel := c.call(ctx)
	defer cancel()
	cid, list, err := r.cluster.MemberList(cctx)
	if err != nil {
		return err
	}
	var done bool // false: the change was abandoned, not made
	switch p.Op {
	case OpAddLearner:
		list, done, err = c.finishAdd(ctx, r, p, list)
	case OpPromote:
		list, done, err = c.finishPromote(ctx, r, p, list)
	case OpRemove:
		list, done, err = c.finishRemove(ctx, r, p, list)
	default:
		c.log.Warn("unknown pending etcd membership change dropped", "op", p.Op)
	}
	if errors.Is(err, errWait) {
		return nil // Pending stays; a later pass sends it again
	}
	if err != nil {
		return err
	}
	next := r.rec
	next.ClusterID, next.Pending = cid, nil
	next.Members = merge(r.rec.Members, list)
	next.StartTimeouts = startTimeouts(r.rec.StartTimeouts, p, done)
	if p.Op == OpAddLearner && done {
		adopt(next.Members, p)
		sortMembers(next.Members)
	}
	rec, err := update(ctx, c.cfg.Store, next, "")
	if err != nil {
		return err
	}
	r.rec = rec
	c.log.Info("etcd membership change finished", "op", p.Op, "member", p.Name, "done", done, "members", describe(rec.Members))
	return nil
}

// adopt gives the member added by p (found by its peer URL) the node's
// name and state ID: etcd has no name for a learner that has not started.
func adopt(members []Member, p Change) {
	for i := range members {
		m := &members[i]
		if m.PeerURL != p.PeerURL {
			continue
		}
		m.Name, m.StateID, m.AddedAt, m.Settings = p.Name, p.StateID, p.Started, p.Settings
		if m.ClientURL == "" {
			m.ClientURL = p.ClientURL
		}
	}
}

// finishAdd adds the learner unless etcd has a member with its peer URL
// already (the add was sent before a crash); it abandons the add when the
// node is no longer one to add.
func (c *Coordinator) finishAdd(ctx context.Context, r *round, p Change, list []EtcdMember) ([]EtcdMember, bool, error) {
	if _, ok := memberByPeerURL(list, p.PeerURL); ok {
		return list, true, nil
	}
	if why := addBlocked(r, p, list); why != "" {
		c.log.Info("etcd learner add abandoned", "member", p.Name, "reason", why)
		return list, false, nil
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	id, after, err := r.cluster.MemberAddAsLearner(cctx, p.PeerURL)
	if isUnhealthy(err) {
		c.log.Info("etcd refuses the learner add for now: members not connected long enough", "member", p.Name)
		return nil, false, errWait
	}
	if err != nil {
		return nil, false, err
	}
	c.fault(FaultAfterMemberAdd)
	c.log.Info("etcd learner added", "member", p.Name, "id", hexID(id), "peerURL", p.PeerURL)
	return after, true, nil
}

// addBlocked says why a recorded add must not be sent (any more), or "".
func addBlocked(r *round, p Change, list []EtcdMember) string {
	if slices.ContainsFunc(list, func(e EtcdMember) bool { return e.Learner }) {
		return "another learner exists"
	}
	if !r.viewOK {
		return ""
	}
	n, ok := r.view[p.Name]
	switch {
	case !ok:
		return "not in the cluster config"
	case n.StateID != p.StateID:
		return "the node has another state now"
	case !n.Alive:
		return "the node is not alive"
	}
	return ""
}

// finishPromote promotes the learner unless it is a voter already or gone.
// etcd refusing because the learner is not in sync yet abandons the
// promotion (a later pass promotes it once it is), so a learner that never
// catches up does not hold the one change slot forever.
func (c *Coordinator) finishPromote(ctx context.Context, r *round, p Change, list []EtcdMember) ([]EtcdMember, bool, error) {
	e, ok := memberByID(list, p.ID)
	if !ok || !e.Learner {
		return list, ok, nil
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	err := r.cluster.MemberPromote(cctx, p.ID)
	switch {
	case IsLearnerNotReady(err):
		c.log.Info("etcd learner not in sync yet; promotion waits", "member", p.Name, "id", hexID(p.ID))
		return list, false, nil
	case isUnhealthy(err):
		c.log.Info("etcd refuses the promotion for now: members not connected long enough", "member", p.Name, "id", hexID(p.ID))
		return nil, false, errWait
	case isNotLearner(err):
	case err != nil:
		return nil, false, err
	default:
		c.fault(FaultAfterPromote)
		c.log.Info("etcd learner promoted", "member", p.Name, "id", hexID(p.ID))
	}
	return c.relist(ctx, r)
}

// finishRemove removes the member unless etcd no longer has it. The quorum
// rule is checked again, on this pass's health: a new leader resuming an
// old intent must not remove a voter the cluster can no longer spare.
func (c *Coordinator) finishRemove(ctx context.Context, r *round, p Change, list []EtcdMember) ([]EtcdMember, bool, error) {
	e, ok := memberByID(list, p.ID)
	if !ok {
		return list, true, nil
	}
	if !e.Learner {
		h := c.health(ctx, r, merge(r.rec.Members, list))
		if why := h.unsafeToRemove(p.ID); why != "" {
			c.log.Warn("etcd member removal abandoned: quorum would be unsafe", "member", p.Name, "id", hexID(p.ID), "detail", why)
			return list, false, nil
		}
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	err := r.cluster.MemberRemove(cctx, p.ID)
	if isUnhealthy(err) {
		// etcd's own guard (strict reconfig check) counts a voter only once
		// it has been connected for its health interval (5s): just after a
		// promotion or restart it refuses, and the removal waits.
		c.log.Info("etcd refuses the removal for now: members not connected long enough", "member", p.Name, "id", hexID(p.ID))
		return nil, false, errWait
	}
	if err != nil && !isMemberNotFound(err) {
		return nil, false, err
	}
	c.fault(FaultAfterRemove)
	c.log.Info("etcd member removed", "member", p.Name, "id", hexID(p.ID), "reason", p.Reason)
	return c.relist(ctx, r)
}

// relist reads the member list after a change.
func (c *Coordinator) relist(ctx context.Context, r *round) ([]EtcdMember, bool, error) {
	cctx, cancel := c.call(ctx)
	defer cancel()
	_, list, err := r.cluster.MemberList(cctx)
	if err != nil {
		return nil, false, fmt.Errorf("member list after change: %w", err)
	}
	return list, true, nil
}

// startTimeouts notes when a node's learner was removed for not starting,
// and forgets it once the node is promoted.
func startTimeouts(prev map[string]time.Time, p Change, done bool) map[string]time.Time {
	next := maps.Clone(prev)
	switch {
	case !done:
	case p.Op == OpRemove && p.StartTimeout:
		if next == nil {
			next = map[string]time.Time{}
		}
		next[p.Name] = p.Started
	case p.Op == OpPromote:
		delete(next, p.Name)
	}
	if len(next) == 0 {
		return nil
	}
	return next
}
