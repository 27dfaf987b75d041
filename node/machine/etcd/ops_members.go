package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairn-project/cairn/internal/backoff"
)

// healthTimeout bounds the status call that decides whether a member is
// healthy: one that does not answer within it counts as down.
const healthTimeout = 2 * time.Second

// A removal the quorum rule refuses is checked quorumChecks times,
// quorumRecheck apart, before it is refused.
const (
	quorumChecks  = 3
	quorumRecheck = 2 * time.Second
)

// memberHealth is a member with what its own status call said.
type memberHealth struct {
	MemberInfo
	status  MemberStatus
	healthy bool
}

// health asks every member for its status at its first client URL, at
// once. A member is healthy when it answers and knows a leader; one
// without a client URL (added, never started) is not.
func health(ctx context.Context, cli *clientv3.Client, list []MemberInfo) []memberHealth {
	out := make([]memberHealth, len(list))
	var wg sync.WaitGroup
	for i, m := range list {
		out[i].MemberInfo = m
		if len(m.ClientURLs) == 0 {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, healthTimeout)
			defer cancel()
			res, err := cli.Status(cctx, m.ClientURLs[0])
			if err != nil {
				return
			}
			out[i].status = statusOf(res)
			out[i].healthy = res.Leader != 0
		})
	}
	wg.Wait()
	return out
}

// checkRemovable applies the quorum rule to removing member id: a voter
// goes only if the healthy voters left are a majority of the voters left
// (n-1 voters need (n-1)/2+1), so a removal can never take quorum with it
// (the rule etcd's --strict-reconfig-check applies too; checked here
// first to say why in words). A learner never counts towards quorum and
// may always go. It returns the healthy voters left, which can carry the
// removal (a learner refuses membership calls).
func checkRemovable(all []memberHealth, id uint64) (target memberHealth, rest []memberHealth, err error) {
	i := slices.IndexFunc(all, func(m memberHealth) bool { return m.ID == id })
	if i < 0 {
		return memberHealth{}, nil, fmt.Errorf("%w: %x", ErrUnknownMember, id)
	}
	target = all[i]
	voters, healthy := 0, 0
	for _, m := range all {
		if m.ID == id {
			continue
		}
		if !m.Learner {
			voters++
			if m.healthy {
				healthy++
				rest = append(rest, m)
			}
		}
	}
	if target.Learner {
		return target, rest, nil
	}
	if voters == 0 {
		return target, nil, fmt.Errorf("%w: %s (%x)", ErrLastMember, target.Name, id)
	}
	if need := voters/2 + 1; healthy < need {
		return target, nil, fmt.Errorf("%w: without %s (%x), %d of the %d voting members left are healthy, %d are needed",
			ErrQuorum, target.Name, id, healthy, voters, need)
	}
	return target, rest, nil
}

// ForfeitLeadership hands leadership to the most caught-up healthy voter
// (the highest applied index, so the new leader has least to catch up on)
// when this member leads; otherwise it changes nothing and says who leads.
// MoveLeader returns once the new leader has taken over.
func (o *Ops) ForfeitLeadership(ctx context.Context) (ForfeitResult, error) {
	c, err := o.client()
	if err != nil {
		return ForfeitResult{}, err
	}
	defer c.release()
	cli, ep := c.cli, c.ep
	res, err := cli.Status(ctx, ep)
	if err != nil {
		return ForfeitResult{}, fmt.Errorf("etcd status of %s: %w", ep, err)
	}
	self := statusOf(res)
	list, err := members(ctx, cli)
	if err != nil {
		return ForfeitResult{}, err
	}
	if self.LeaderID != self.MemberID {
		return ForfeitResult{LeaderID: self.LeaderID, LeaderName: nameOf(list, self.LeaderID)}, nil
	}
	var best *memberHealth
	for _, m := range health(ctx, cli, list) {
		if m.ID == self.MemberID || m.Learner || !m.healthy {
			continue
		}
		if best == nil || m.status.RaftAppliedIndex > best.status.RaftAppliedIndex {
			best = &m
		}
	}
	if best == nil {
		return ForfeitResult{}, ErrNoTransferee
	}
	if _, err := cli.MoveLeader(ctx, best.ID); err != nil {
		return ForfeitResult{}, fmt.Errorf("etcd move leader to %s (%x): %w", best.Name, best.ID, err)
	}
	return ForfeitResult{Moved: true, LeaderID: best.ID, LeaderName: best.Name}, nil
}

// Leave removes this node's own member from the cluster, under the
// quorum rule (checkRemovable). The removal is sent through the other
// healthy members, not this one: a removed member stops at once and
// might not answer the call that removed it. etcd then stops on this
// node; its data directory is useless for this cluster from then on.
func (o *Ops) Leave(ctx context.Context) (MemberInfo, error) {
	c, err := o.client()
	if err != nil {
		return MemberInfo{}, err
	}
	defer c.release()
	cli, ep := c.cli, c.ep
	res, err := cli.Status(ctx, ep)
	if err != nil {
		return MemberInfo{}, fmt.Errorf("etcd status of %s: %w", ep, err)
	}
	return remove(ctx, c, res.Header.MemberId, true)
}

// RemoveMember removes another member, by ID, under the quorum rule
// (checkRemovable). This node's own member is refused with ErrRemoveSelf:
// Leave removes it safely.
func (o *Ops) RemoveMember(ctx context.Context, id uint64) (MemberInfo, error) {
	c, err := o.client()
	if err != nil {
		return MemberInfo{}, err
	}
	defer c.release()
	cli, ep := c.cli, c.ep
	res, err := cli.Status(ctx, ep)
	if err != nil {
		return MemberInfo{}, fmt.Errorf("etcd status of %s: %w", ep, err)
	}
	if res.Header.MemberId == id {
		return MemberInfo{}, fmt.Errorf("%w (member %x)", ErrRemoveSelf, id)
	}
	return remove(ctx, c, id, false)
}

func remove(ctx context.Context, c conn, id uint64, self bool) (MemberInfo, error) {
	cli := c.cli
	list, err := members(ctx, cli)
	if err != nil {
		return MemberInfo{}, err
	}
	target, rest, err := checkRemovable(health(ctx, cli, list), id)
	// A member that misses one status call is slow, not down (a machine
	// under load, a VM under TCG): the quorum rule is asked again before
	// the removal is refused.
	for try := 1; errors.Is(err, ErrQuorum) && try < quorumChecks; try++ {
		select {
		case <-ctx.Done():
			return MemberInfo{}, err
		case <-time.After(quorumRecheck):
		}
		target, rest, err = checkRemovable(health(ctx, cli, list), id)
	}
	if err != nil {
		return MemberInfo{}, err
	}
	via := cli
	if self {
		var urls []string
		for _, m := range rest {
			urls = append(urls, m.ClientURLs[0]) // healthy: it has one
		}
		if len(urls) == 0 {
			return MemberInfo{}, fmt.Errorf("%w: %s (%x)", ErrLastMember, target.Name, id)
		}
		others, err := New(urls, c.tls)
		if err != nil {
			return MemberInfo{}, err
		}
		defer others.Close()
		via = others
	}
	if err := removeWhenReady(ctx, via, id); err != nil {
		return MemberInfo{}, fmt.Errorf("etcd remove member %s (%x): %w", target.Name, id, err)
	}
	return target.MemberInfo, nil
}

// removeWhenReady removes member id, waiting while etcd answers "unhealthy
// cluster": its strict reconfiguration check refuses a removal for a few
// seconds after a member (re)started, until it knows every member's
// connection state (etcd's HealthInterval, 5 s). The quorum rule was
// checked already; this only waits out etcd's own caution, as long as
// ctx allows.
func removeWhenReady(ctx context.Context, cli *clientv3.Client, id uint64) error {
	bo := backoff.Backoff{Initial: 250 * time.Millisecond, Max: time.Second}
	for {
		_, err := cli.MemberRemove(ctx, id)
		if !errors.Is(err, rpctypes.ErrUnhealthy) && !errors.Is(err, rpctypes.ErrGRPCUnhealthy) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(bo.Next()):
		}
	}
}

func nameOf(list []MemberInfo, id uint64) string {
	for _, m := range list {
		if m.ID == id {
			return m.Name
		}
	}
	return ""
}
