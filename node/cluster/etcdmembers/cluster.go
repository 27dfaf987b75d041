package etcdmembers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cairn-project/cairn/internal/etcdclient"
)

// Cluster is what the coordinator needs from an etcd client: the cluster
// API and per-member status. Member IDs are etcd's.
type Cluster interface {
	// MemberList returns etcd's members and its cluster ID (linearizable).
	MemberList(ctx context.Context) (clusterID uint64, members []EtcdMember, err error)
	// MemberAddAsLearner adds a learner with peerURL and returns its new ID
	// and the member list after the add, the new learner included.
	MemberAddAsLearner(ctx context.Context, peerURL string) (id uint64, members []EtcdMember, err error)
	// MemberPromote makes learner id a voter. A learner that is not in sync
	// with the leader yet fails with an error IsLearnerNotReady reports.
	MemberPromote(ctx context.Context, id uint64) error
	MemberRemove(ctx context.Context, id uint64) error
	// Status asks the member serving clientURL itself; an error means it
	// does not answer (not started, stopped, unreachable).
	Status(ctx context.Context, clientURL string) (MemberStatus, error)
	Close() error
}

// EtcdMember is one entry of etcd's member list. Name is empty for a
// learner that has not started yet.
type EtcdMember struct {
	ID         uint64
	Name       string
	PeerURLs   []string
	ClientURLs []string
	Learner    bool
}

// MemberStatus is one member's own answer to a status call.
type MemberStatus struct {
	ID      uint64
	Learner bool
	// Leader is the ID of the member this one follows (0 without a leader).
	Leader uint64
	// RaftIndex is the member's last raft log index.
	RaftIndex uint64
	// Errors are the member's alarms and errors as etcd reports them.
	Errors []string
}

// IsLearnerNotReady reports whether err is etcd refusing a promotion
// because the learner is not in sync with the leader yet: a reason to wait,
// not a failure.
func IsLearnerNotReady(err error) bool {
	return errors.Is(err, rpctypes.ErrMemberLearnerNotReady) || errors.Is(err, rpctypes.ErrGRPCLearnerNotReady)
}

// isMemberNotFound reports etcd's answer to a change of a member it does
// not have: for a removal, the change is already done.
func isMemberNotFound(err error) bool {
	return errors.Is(err, rpctypes.ErrMemberNotFound) || errors.Is(err, rpctypes.ErrGRPCMemberNotFound)
}

// isUnhealthy reports etcd's refusal of a change that its own quorum
// check (--strict-reconfig-check) finds unsafe at the moment.
// etcd refuses with ErrUnhealthy an add or a removal, and with
// ErrNotEnoughStartedMembers a promotion, while too few members have been
// connected for its health interval.
func isUnhealthy(err error) bool {
	return errors.Is(err, rpctypes.ErrUnhealthy) || errors.Is(err, rpctypes.ErrGRPCUnhealthy) ||
		errors.Is(err, rpctypes.ErrMemberNotEnoughStarted) || errors.Is(err, rpctypes.ErrGRPCMemberNotEnoughStarted)
}

// isNotLearner reports etcd's answer to promoting a voter: already done.
func isNotLearner(err error) bool {
	return errors.Is(err, rpctypes.ErrMemberNotLearner) || errors.Is(err, rpctypes.ErrGRPCMemberNotLearner)
}

// DialTLS returns a Dial function for Config over tlsConf: cairnd's etcd
// client TLS (the etcd CA and a client certificate from it).
func DialTLS(tlsConf *tls.Config) func(endpoints []string) (Cluster, error) {
	return func(endpoints []string) (Cluster, error) { return NewClient(endpoints, tlsConf) }
}

// NewClient returns a Cluster over go.etcd.io/etcd/client/v3 with the
// client options cairnd uses everywhere (internal/etcdclient). Endpoints
// are voters' client URLs: a learner serves no cluster API.
func NewClient(endpoints []string, tlsConf *tls.Config) (Cluster, error) {
	c, err := etcdclient.New(endpoints, tlsConf)
	if err != nil {
		return nil, err
	}
	return &client{c: c}, nil
}

type client struct{ c *clientv3.Client }

func (c *client) MemberList(ctx context.Context) (uint64, []EtcdMember, error) {
	r, err := c.c.MemberList(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("etcd member list: %w", err)
	}
	return r.Header.GetClusterId(), convert(r.Members), nil
}

func (c *client) MemberAddAsLearner(ctx context.Context, peerURL string) (uint64, []EtcdMember, error) {
	r, err := c.c.MemberAddAsLearner(ctx, []string{peerURL})
	if err != nil {
		return 0, nil, fmt.Errorf("etcd add learner %s: %w", peerURL, err)
	}
	return r.Member.GetID(), convert(r.Members), nil
}

func (c *client) MemberPromote(ctx context.Context, id uint64) error {
	if _, err := c.c.MemberPromote(ctx, id); err != nil {
		return fmt.Errorf("etcd promote %x: %w", id, err)
	}
	return nil
}

func (c *client) MemberRemove(ctx context.Context, id uint64) error {
	if _, err := c.c.MemberRemove(ctx, id); err != nil {
		return fmt.Errorf("etcd remove %x: %w", id, err)
	}
	return nil
}

func (c *client) Status(ctx context.Context, clientURL string) (MemberStatus, error) {
	r, err := c.c.Status(ctx, clientURL)
	if err != nil {
		return MemberStatus{}, fmt.Errorf("etcd status of %s: %w", clientURL, err)
	}
	return MemberStatus{
		ID: r.Header.GetMemberId(), Learner: r.IsLearner, Leader: r.Leader,
		RaftIndex: r.RaftIndex, Errors: r.Errors,
	}, nil
}

func (c *client) Close() error { return c.c.Close() }

func convert(ms []*pb.Member) []EtcdMember {
	out := make([]EtcdMember, 0, len(ms))
	for _, m := range ms {
		out = append(out, EtcdMember{
			ID: m.ID, Name: m.Name, Learner: m.IsLearner,
			PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs,
		})
	}
	return out
}
