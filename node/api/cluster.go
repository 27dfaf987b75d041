package api

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/cluster/formation"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

type clusterService struct{ s *Server }

// lostLeadership reports whether a local write failed because this node
// stopped leading, before or while committing.
func lostLeadership(err error) bool {
	return errors.Is(err, consensus.ErrNotLeader) || errors.Is(err, consensus.ErrOutcomeUnknown)
}

func mode(stale bool) consensus.ReadMode {
	if stale {
		return consensus.Stale
	}
	return consensus.Linearizable
}

// GetConfig implements cairn.cluster.v1.ClusterService.
func (c *clusterService) GetConfig(ctx context.Context, req *connect.Request[clusterv1.GetConfigRequest]) (*connect.Response[clusterv1.GetConfigResponse], error) {
	s := c.s
	if req.Msg.IncludeSecrets {
		if err := requireAdmin(ctx, "include_secrets"); err != nil {
			return nil, err
		}
	}
	local := s.opts.ControlPlane && (req.Msg.Stale || s.isLeader())
	if !local {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.GetConfig)
	}
	st, err := s.configs.Get(ctx, s.replica, mode(req.Msg.Stale))
	if lostLeadership(err) && !req.Msg.Stale && req.Header().Get(HeaderForwarded) == "" {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.GetConfig)
	}
	if err != nil {
		return nil, toConnect(err)
	}
	doc, err := s.configs.Render(st, !req.Msg.IncludeSecrets)
	if err != nil {
		return nil, toConnect(err)
	}
	return connect.NewResponse(&clusterv1.GetConfigResponse{Config: string(doc), Revision: st.Revision, Version: st.Version}), nil
}

// ApplyConfig implements cairn.cluster.v1.ClusterService.
func (c *clusterService) ApplyConfig(ctx context.Context, req *connect.Request[clusterv1.ApplyConfigRequest]) (*connect.Response[clusterv1.ApplyConfigResponse], error) {
	if err := checkApplyConfig(req.Msg); err != nil {
		return nil, err
	}
	s := c.s
	m := req.Msg
	if m.RequestId == "" && !m.DryRun {
		// Forwarding retries on another node when an attempt's outcome is
		// unknown; the request ID makes that retry the same write.
		m.RequestId = consensus.NewRequestID()
	}
	if !s.isLeader() {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.ApplyConfig)
	}
	res, err := s.configs.Apply(ctx, s.replica, []byte(m.Config), m.ExpectedRevision, m.DryRun, m.RequestId)
	if lostLeadership(err) && req.Header().Get(HeaderForwarded) == "" {
		// Deposed while committing: the new leader answers the same request
		// ID with this write's outcome if it was committed.
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.ApplyConfig)
	}
	if err != nil {
		return nil, toConnect(err)
	}
	if res.Changed && !res.DryRun {
		s.log.Info("cluster config applied", "revision", res.Revision, "removedNodes", res.Removed)
	}
	return connect.NewResponse(&clusterv1.ApplyConfigResponse{
		Revision: res.Revision, Changed: res.Changed, Diff: res.Diff, DryRun: res.DryRun, Duplicate: res.Duplicate,
		RemovedNodes: res.Removed,
	}), nil
}

// WatchConfig implements cairn.cluster.v1.ClusterService: the current config
// first (unless from_revision asks for history), then every change.
func (c *clusterService) WatchConfig(ctx context.Context, req *connect.Request[clusterv1.WatchConfigRequest], stream *connect.ServerStream[clusterv1.WatchConfigResponse]) error {
	s := c.s
	if req.Msg.IncludeSecrets {
		if err := requireAdmin(ctx, "include_secrets"); err != nil {
			return err
		}
	}
	if !s.opts.ControlPlane {
		return proxyWatch(ctx, c.s, req, stream, func(ctx context.Context, name string, out *connect.Request[clusterv1.WatchConfigRequest]) (*connect.ServerStreamForClient[clusterv1.WatchConfigResponse], error) {
			cl, err := c.s.clusterClient(name)
			if err != nil {
				return nil, err
			}
			return cl.WatchConfig(ctx, out)
		})
	}
	from := req.Msg.FromRevision
	if from == 0 {
		cur, err := s.configs.Get(ctx, s.replica, consensus.Stale)
		if err != nil {
			return toConnect(err)
		}
		if err := c.sendConfig(stream, cur, req.Msg.IncludeSecrets); err != nil {
			return err
		}
		from = cur.Revision + 1
	}
	w, err := s.replica.Watch(ctx, cfgstore.ResourceType, from)
	if err != nil {
		return toConnect(err)
	}
	for ev := range w.Events() {
		if ev.Kind == consensus.EventDeleted {
			continue
		}
		st, err := s.configs.Decode(ev.Resource)
		if err != nil {
			return toConnect(err)
		}
		if err := c.sendConfig(stream, st, req.Msg.IncludeSecrets); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return toConnect(w.Err())
}

func (c *clusterService) sendConfig(stream *connect.ServerStream[clusterv1.WatchConfigResponse], st *cfgstore.Stored, secrets bool) error {
	doc, err := c.s.configs.Render(st, !secrets)
	if err != nil {
		return toConnect(err)
	}
	return stream.Send(&clusterv1.WatchConfigResponse{Config: string(doc), Revision: st.Revision})
}

// Members implements cairn.cluster.v1.ClusterService: gossip's view of every
// node, joined with the Raft configuration for suffrage and leadership.
func (c *clusterService) Members(ctx context.Context, req *connect.Request[clusterv1.MembersRequest]) (*connect.Response[clusterv1.MembersResponse], error) {
	s := c.s
	if !s.opts.ControlPlane && !req.Msg.Stale {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.Members)
	}
	suffrage := map[string]consensus.Suffrage{} // by Raft ID
	failing := map[string]bool{}                // by Raft ID; known on the leader only
	leader := ""
	if st := s.replica; s.opts.ControlPlane {
		status, err := st.Status()
		if err != nil {
			return nil, toConnect(err)
		}
		for _, sv := range status.Servers {
			suffrage[sv.ID] = sv.Suffrage
			failing[sv.ID] = sv.HealthKnown && !sv.Healthy
		}
		leader = formation.NodeName(status.LeaderID)
	}
	var out []*clusterv1.Member
	for _, m := range s.members.Members() {
		id := formation.RaftID(m.Name, m.Meta.StateID)
		p := memberProto(m, suffrage[id], leader, s.opts.ControlPlane)
		if failing[id] && m.State == gossip.StateAlive {
			// Raft's heartbeats notice a dead control plane within a
			// heartbeat; gossip takes seconds to agree it is dead.
			p.Health = "unreachable: raft heartbeats fail"
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *clusterv1.Member) int { return strings.Compare(a.Name, b.Name) })
	return connect.NewResponse(&clusterv1.MembersResponse{Members: out}), nil
}

// memberProto renders a member; suffrage is its current state's (a server
// of an earlier, wiped state of the node does not count).
func memberProto(m gossip.Member, suffrage consensus.Suffrage, leader string, knowRaft bool) *clusterv1.Member {
	p := &clusterv1.Member{
		Name:                  m.Name,
		ApiAddress:            addrString(m.Meta.APIAddr),
		RaftAddress:           addrString(m.Meta.RaftAddr),
		GossipAddress:         addrString(m.Addr),
		AppliedConfigRevision: m.Meta.ConfigRevision,
		Version:               m.Meta.Version,
		Slot:                  m.Meta.BootSlot,
		Health:                m.Meta.Health,
		Leader:                m.Name == leader,
		Etcd:                  m.Meta.Etcd,
		Kubernetes:            m.Meta.Kubernetes,
		Kubelet:               m.Meta.Kubelet,
		PodCidr:               m.Meta.PodCIDR,
	}
	switch m.Meta.Role {
	case gossip.RoleControlPlane:
		p.Role = clusterv1.Role_ROLE_CONTROLPLANE
	case gossip.RoleWorker:
		p.Role = clusterv1.Role_ROLE_WORKER
	}
	switch m.State {
	case gossip.StateAlive:
		p.GossipState = clusterv1.GossipState_GOSSIP_STATE_ALIVE
	case gossip.StateSuspect:
		p.GossipState = clusterv1.GossipState_GOSSIP_STATE_SUSPECT
	case gossip.StateDead:
		p.GossipState = clusterv1.GossipState_GOSSIP_STATE_DEAD
	case gossip.StateLeft:
		p.GossipState = clusterv1.GossipState_GOSSIP_STATE_LEFT
	}
	if m.State == gossip.StateDead || m.State == gossip.StateLeft {
		// The last health a member advertised says nothing once it is gone.
		p.Health, p.Etcd, p.Kubernetes, p.Kubelet = "unknown", "", "", ""
	}
	if knowRaft {
		switch suffrage {
		case consensus.Voter:
			p.RaftSuffrage = clusterv1.RaftSuffrage_RAFT_SUFFRAGE_VOTER
		case consensus.Nonvoter:
			p.RaftSuffrage = clusterv1.RaftSuffrage_RAFT_SUFFRAGE_NONVOTER
		default:
			p.RaftSuffrage = clusterv1.RaftSuffrage_RAFT_SUFFRAGE_NONE
		}
	}
	return p
}

func serverHealth(sv consensus.ServerStatus) clusterv1.ServerHealth {
	switch {
	case !sv.HealthKnown:
		return clusterv1.ServerHealth_SERVER_HEALTH_UNKNOWN
	case sv.Healthy:
		return clusterv1.ServerHealth_SERVER_HEALTH_HEALTHY
	}
	return clusterv1.ServerHealth_SERVER_HEALTH_FAILING
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// ConsensusStatus implements cairn.cluster.v1.ClusterService.
func (c *clusterService) ConsensusStatus(ctx context.Context, req *connect.Request[clusterv1.ConsensusStatusRequest]) (*connect.Response[clusterv1.ConsensusStatusResponse], error) {
	s := c.s
	if !s.opts.ControlPlane {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.ConsensusStatus)
	}
	st, err := s.replica.Status()
	if err != nil {
		return nil, toConnect(err)
	}
	out := &clusterv1.ConsensusStatusResponse{
		NodeName: formation.NodeName(st.NodeID), State: st.State, LeaderName: formation.NodeName(st.LeaderID), LeaderAddress: st.LeaderAddr,
		Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex, LastIndex: st.LastIndex, Revision: st.Revision,
	}
	for _, sv := range st.Servers {
		rs := &clusterv1.RaftServer{
			Name: formation.NodeName(sv.ID), Id: sv.ID, Address: sv.Address, Leader: sv.Leader, Healthy: sv.Healthy, Health: serverHealth(sv),
		}
		switch sv.Suffrage {
		case consensus.Voter:
			rs.Suffrage = clusterv1.RaftSuffrage_RAFT_SUFFRAGE_VOTER
		case consensus.Nonvoter:
			rs.Suffrage = clusterv1.RaftSuffrage_RAFT_SUFFRAGE_NONVOTER
		}
		if !sv.LastContact.IsZero() {
			rs.LastContact = timestamppb.New(sv.LastContact)
		}
		out.Servers = append(out.Servers, rs)
	}
	return connect.NewResponse(out), nil
}
