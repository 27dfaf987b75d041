package api

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/cfgstore"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

type clusterService struct{ s *Server }

// forward sends a call to the leader, once: a call that was already
// forwarded to this node is refused rather than bounced on.
func forward[Req, Res any](ctx context.Context, s *Server, req *connect.Request[Req],
	call func(clusterv1connect.ClusterServiceClient, context.Context, *connect.Request[Req]) (*connect.Response[Res], error),
) (*connect.Response[Res], error) {
	if from := req.Header().Get(HeaderForwarded); from != "" {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w: forwarded by %s, but %s is not the leader either", ErrNoLeader, from, s.opts.NodeName))
	}
	c, _, err := s.leaderClient()
	if err != nil {
		return nil, toConnect(err)
	}
	out := connect.NewRequest(req.Msg)
	out.Header().Set(HeaderForwarded, s.opts.NodeName)
	out.Header().Set(HeaderCallerCert, callerFrom(ctx).header())
	return call(c, ctx, out)
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
	local := s.agent.Store != nil && (req.Msg.Stale || s.isLeader())
	if !local {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.GetConfig)
	}
	st, err := s.configs.Get(ctx, s.agent.Store, mode(req.Msg.Stale))
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
	if !s.isLeader() {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.ApplyConfig)
	}
	m := req.Msg
	res, err := cfgstore.Apply(ctx, s.agent.Store, []byte(m.Config), m.ExpectedRevision, m.DryRun, m.RequestId)
	if err != nil {
		return nil, toConnect(err)
	}
	if res.Changed && !res.DryRun {
		s.log.Info("cluster config applied", "revision", res.Revision)
	}
	return connect.NewResponse(&clusterv1.ApplyConfigResponse{Revision: res.Revision, Changed: res.Changed, Diff: res.Diff, DryRun: res.DryRun}), nil
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
	if s.agent.Store == nil {
		return c.proxyWatch(ctx, req, stream)
	}
	from := req.Msg.FromRevision
	if from == 0 {
		cur, err := s.configs.Get(ctx, s.agent.Store, consensus.Stale)
		if err != nil {
			return toConnect(err)
		}
		if err := c.sendConfig(stream, cur, req.Msg.IncludeSecrets); err != nil {
			return err
		}
		from = cur.Revision + 1
	}
	w, err := s.agent.Store.Watch(ctx, cfgstore.ResourceType, from)
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

// proxyWatch relays a watch from the leader (workers hold no replica).
func (c *clusterService) proxyWatch(ctx context.Context, req *connect.Request[clusterv1.WatchConfigRequest], stream *connect.ServerStream[clusterv1.WatchConfigResponse]) error {
	cl, _, err := c.s.leaderClient()
	if err != nil {
		return toConnect(err)
	}
	out := connect.NewRequest(req.Msg)
	out.Header().Set(HeaderCallerCert, callerFrom(ctx).header())
	up, err := cl.WatchConfig(ctx, out)
	if err != nil {
		return err
	}
	defer up.Close()
	for up.Receive() {
		if err := stream.Send(up.Msg()); err != nil {
			return err
		}
	}
	return up.Err()
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
	if s.agent.Store == nil && !req.Msg.Stale {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.Members)
	}
	suffrage := map[string]consensus.Suffrage{}
	leader := ""
	if st := s.agent.Store; st != nil {
		servers, err := st.Servers()
		if err != nil {
			return nil, toConnect(err)
		}
		for _, sv := range servers {
			suffrage[sv.ID] = sv.Suffrage
		}
		leader, _ = st.Leader()
	}
	var out []*clusterv1.Member
	for _, m := range s.agent.Gossip().Members() {
		out = append(out, memberProto(m, suffrage, leader, s.agent.Store != nil))
	}
	slices.SortFunc(out, func(a, b *clusterv1.Member) int { return strings.Compare(a.Name, b.Name) })
	return connect.NewResponse(&clusterv1.MembersResponse{Members: out}), nil
}

func memberProto(m gossip.Member, suffrage map[string]consensus.Suffrage, leader string, knowRaft bool) *clusterv1.Member {
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
	if knowRaft {
		switch suffrage[m.Name] {
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

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// ConsensusStatus implements cairn.cluster.v1.ClusterService.
func (c *clusterService) ConsensusStatus(ctx context.Context, req *connect.Request[clusterv1.ConsensusStatusRequest]) (*connect.Response[clusterv1.ConsensusStatusResponse], error) {
	s := c.s
	if s.agent.Store == nil {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.ConsensusStatus)
	}
	st, err := s.agent.Store.Status()
	if err != nil {
		return nil, toConnect(err)
	}
	out := &clusterv1.ConsensusStatusResponse{
		NodeName: st.NodeID, State: st.State, LeaderName: st.LeaderID, LeaderAddress: st.LeaderAddr,
		Term: st.Term, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex, LastIndex: st.LastIndex, Revision: st.Revision,
	}
	for _, sv := range st.Servers {
		rs := &clusterv1.RaftServer{Name: sv.ID, Address: sv.Address, Leader: sv.Leader, Healthy: sv.Healthy}
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
