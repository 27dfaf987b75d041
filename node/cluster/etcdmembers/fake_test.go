package etcdmembers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// fakeEtcd is a stateful in-memory etcd cluster API with etcd's rules for
// membership changes: one learner at a time, a duplicate peer URL refused,
// a learner promoted only when its log is within 90% of the leader's, a
// started member answering status on its client URL.
type fakeEtcd struct {
	mu        sync.Mutex
	clusterID uint64
	nextID    uint64
	members   []EtcdMember
	index     map[uint64]uint64 // member ID → raft index; a member without one has not started
	down      map[uint64]bool   // started, but not answering
	ops       []string          // changes applied, in order
	refuse    map[string]error  // op ("add", "promote", "remove") → etcd's refusal
}

// setRefusal makes etcd refuse op with err (nil: accept again).
func (f *fakeEtcd) setRefusal(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse == nil {
		f.refuse = map[string]error{}
	}
	f.refuse[op] = err
}

func newFakeEtcd() *fakeEtcd {
	return &fakeEtcd{clusterID: 0xc1, nextID: 0x100, index: map[uint64]uint64{}, down: map[uint64]bool{}}
}

// bootstrap starts the first member, as a node starting etcd as new.
func (f *fakeEtcd) bootstrap(name, peerURL, clientURL string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := f.nextID
	f.members = append(f.members, EtcdMember{ID: id, Name: name, PeerURLs: []string{peerURL}, ClientURLs: []string{clientURL}})
	f.index[id] = 100
	return id
}

// start starts the member added with peerURL, caught up (or not).
func (f *fakeEtcd) start(name, peerURL, clientURL string, caughtUp bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, m := range f.members {
		if slices.Contains(m.PeerURLs, peerURL) {
			f.members[i].Name, f.members[i].ClientURLs = name, []string{clientURL}
			f.index[m.ID] = 100
			if !caughtUp {
				f.index[m.ID] = 10
			}
			return
		}
	}
	panic("fake etcd: no member with peer URL " + peerURL)
}

func (f *fakeEtcd) setDown(id uint64, down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down[id] = down
}

func (f *fakeEtcd) catchUp(id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index[id] = 100
}

// operatorRemove is `etcdctl member remove` behind the coordinator's back.
func (f *fakeEtcd) operatorRemove(id uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members = slices.DeleteFunc(f.members, func(m EtcdMember) bool { return m.ID == id })
}

func (f *fakeEtcd) snapshot() ([]EtcdMember, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.members), slices.Clone(f.ops)
}

func (f *fakeEtcd) byName(name string) EtcdMember {
	ms, _ := f.snapshot()
	for _, m := range ms {
		if m.Name == name {
			return m
		}
	}
	return EtcdMember{}
}

func (f *fakeEtcd) dial(endpoints []string) (Cluster, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("fake etcd: no endpoints")
	}
	return &fakeClient{f: f, endpoints: endpoints}, nil
}

// fakeClient answers while one of its endpoints is a voter that answers.
type fakeClient struct {
	f         *fakeEtcd
	endpoints []string
}

var errUnavailable = errors.New("fake etcd: no endpoint answers")

func (c *fakeClient) reachable() error {
	for _, m := range c.f.members {
		_, started := c.f.index[m.ID]
		if !m.Learner && started && !c.f.down[m.ID] && len(m.ClientURLs) > 0 && slices.Contains(c.endpoints, m.ClientURLs[0]) {
			return nil
		}
	}
	return errUnavailable
}

func (c *fakeClient) MemberList(context.Context) (uint64, []EtcdMember, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.reachable(); err != nil {
		return 0, nil, err
	}
	return c.f.clusterID, cloneMembers(c.f.members), nil
}

func cloneMembers(ms []EtcdMember) []EtcdMember {
	out := slices.Clone(ms)
	for i := range out {
		out[i].PeerURLs, out[i].ClientURLs = slices.Clone(out[i].PeerURLs), slices.Clone(out[i].ClientURLs)
	}
	return out
}

func (c *fakeClient) MemberAddAsLearner(_ context.Context, peerURL string) (uint64, []EtcdMember, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.reachable(); err != nil {
		return 0, nil, err
	}
	if err := c.f.refuse["add"]; err != nil {
		return 0, nil, err
	}
	for _, m := range c.f.members {
		if m.Learner {
			return 0, nil, rpctypes.ErrTooManyLearners
		}
		if slices.Contains(m.PeerURLs, peerURL) {
			return 0, nil, rpctypes.ErrPeerURLExist
		}
	}
	c.f.nextID++
	id := c.f.nextID
	c.f.members = append(c.f.members, EtcdMember{ID: id, PeerURLs: []string{peerURL}, Learner: true})
	c.f.ops = append(c.f.ops, "add "+peerURL)
	return id, cloneMembers(c.f.members), nil
}

func (c *fakeClient) MemberPromote(_ context.Context, id uint64) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.reachable(); err != nil {
		return err
	}
	if err := c.f.refuse["promote"]; err != nil {
		return err
	}
	i := slices.IndexFunc(c.f.members, func(m EtcdMember) bool { return m.ID == id })
	switch {
	case i < 0:
		return rpctypes.ErrMemberNotFound
	case !c.f.members[i].Learner:
		return rpctypes.ErrMemberNotLearner
	case c.f.index[id]*10 < 100*9:
		return rpctypes.ErrMemberLearnerNotReady
	}
	c.f.members[i].Learner = false
	c.f.ops = append(c.f.ops, fmt.Sprintf("promote %x", id))
	return nil
}

func (c *fakeClient) MemberRemove(_ context.Context, id uint64) error {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if err := c.reachable(); err != nil {
		return err
	}
	if err := c.f.refuse["remove"]; err != nil {
		return err
	}
	i := slices.IndexFunc(c.f.members, func(m EtcdMember) bool { return m.ID == id })
	if i < 0 {
		return rpctypes.ErrMemberNotFound
	}
	c.f.members = slices.Delete(c.f.members, i, i+1)
	c.f.ops = append(c.f.ops, fmt.Sprintf("remove %x", id))
	return nil
}

func (c *fakeClient) Status(_ context.Context, clientURL string) (MemberStatus, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	var leader uint64
	for _, m := range c.f.members {
		if !m.Learner && leader == 0 {
			leader = m.ID
		}
	}
	for _, m := range c.f.members {
		idx, started := c.f.index[m.ID]
		if started && !c.f.down[m.ID] && slices.Contains(m.ClientURLs, clientURL) {
			return MemberStatus{ID: m.ID, Learner: m.Learner, Leader: leader, RaftIndex: idx}, nil
		}
	}
	return MemberStatus{}, fmt.Errorf("fake etcd: %s: connection refused", clientURL)
}

func (c *fakeClient) Close() error { return nil }
