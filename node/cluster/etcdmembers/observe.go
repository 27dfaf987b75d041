package etcdmembers

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// observe reads etcd's member list and records it when it differs from the
// record: the bootstrap member's ID, a learner's name once it started, a
// promotion or removal made by an operator (`etcd leave`).
func (c *Coordinator) observe(ctx context.Context, r *round) error {
	cctx, cancel := c.call(ctx)
	cid, list, err := r.cluster.MemberList(cctx)
	cancel()
	if err != nil && r.rec.ClusterID == 0 {
		return fmt.Errorf("%w: etcd of generation %d not answering yet (its bootstrap member starts it): %w", errWait, r.rec.Generation, err)
	}
	if err != nil {
		return err
	}
	members := merge(r.rec.Members, list)
	if cid == r.rec.ClusterID && slices.EqualFunc(members, r.rec.Members, sameMember) {
		return nil
	}
	next := r.rec
	next.ClusterID, next.Members = cid, members
	rec, err := update(ctx, c.cfg.Store, next, "")
	if err != nil {
		return err
	}
	c.log.Info("etcd membership observed", "clusterID", hexID(cid), "members", describe(members))
	r.rec = rec
	return nil
}

// merge is etcd's member list with what only the record knows: each
// member's node name before it started, its state ID and when it was added.
// A recorded member is matched by ID, or by peer URL while its ID is
// unknown (the bootstrap member); one etcd no longer lists is dropped.
func merge(recorded []Member, list []EtcdMember) []Member {
	out := make([]Member, 0, len(list))
	for _, e := range list {
		var m Member
		if i := slices.IndexFunc(recorded, func(m Member) bool {
			return (m.ID != 0 && m.ID == e.ID) || (m.ID == 0 && slices.Contains(e.PeerURLs, m.PeerURL))
		}); i >= 0 {
			m = recorded[i]
		}
		m.ID, m.Learner = e.ID, e.Learner
		if e.Name != "" {
			m.Name = e.Name
		}
		if len(e.PeerURLs) > 0 {
			m.PeerURL = e.PeerURLs[0]
		}
		if len(e.ClientURLs) > 0 {
			m.ClientURL = e.ClientURLs[0]
		}
		out = append(out, m)
	}
	sortMembers(out)
	return out
}

// sameMember compares members field by field, times by instant.
func sameMember(a, b Member) bool {
	at, bt := a.AddedAt, b.AddedAt
	a.AddedAt, b.AddedAt = time.Time{}, time.Time{}
	return a == b && at.Equal(bt)
}

// sortMembers orders members by name, then ID, so equal sets compare equal.
func sortMembers(ms []Member) {
	slices.SortFunc(ms, func(a, b Member) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

func memberByID(list []EtcdMember, id uint64) (EtcdMember, bool) {
	i := slices.IndexFunc(list, func(e EtcdMember) bool { return e.ID == id })
	if i < 0 {
		return EtcdMember{}, false
	}
	return list[i], true
}

func memberByPeerURL(list []EtcdMember, peerURL string) (EtcdMember, bool) {
	i := slices.IndexFunc(list, func(e EtcdMember) bool { return slices.Contains(e.PeerURLs, peerURL) })
	if i < 0 {
		return EtcdMember{}, false
	}
	return list[i], true
}

// hexID is an etcd member or cluster ID as etcdctl prints it.
func hexID(id uint64) string { return strconv.FormatUint(id, 16) }

// describe lists members for a log line: name/id, learners marked.
func describe(ms []Member) string {
	parts := make([]string, 0, len(ms))
	for _, m := range ms {
		p := m.Name + "/" + hexID(m.ID)
		if m.Learner {
			p += "(learner)"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ",")
}
