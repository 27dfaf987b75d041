package api

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/formation"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

var (
	errNoServerID     = errors.New("server_id is required")
	errQuorumUnsafe   = errors.New("removing this voter would leave fewer reachable voters than a quorum")
	errLeaderHandedOn = errors.New("the leader handed on leadership before removing itself")
)

// RemoveServer implements cairn.cluster.v1.ClusterService on the leader.
//
// The quorum rule is the autopilot's (node/cluster/formation/autopilot.go,
// removeOne): a voter goes only if the voters that remain and that the
// leader hears from are still a quorum of the smaller configuration, so an
// operator's reset cannot take the cluster's quorum with it.
func (c *clusterService) RemoveServer(ctx context.Context, req *connect.Request[clusterv1.RemoveServerRequest]) (*connect.Response[clusterv1.RemoveServerResponse], error) {
	s := c.s
	id := req.Msg.GetServerId()
	if id == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errNoServerID)
	}
	if !s.isLeader() {
		return forward(ctx, s, req, clusterv1connect.ClusterServiceClient.RemoveServer)
	}
	st, err := s.replica.Status()
	if err != nil {
		return nil, toConnect(err)
	}
	res := &clusterv1.RemoveServerResponse{NodeName: s.opts.NodeName}
	var target *consensus.ServerStatus
	voters, reachable := 0, 0
	for i, sv := range st.Servers {
		if sv.ID == id {
			target = &st.Servers[i]
		}
		if sv.Suffrage == consensus.Voter {
			voters++
			if sv.Healthy {
				reachable++
			}
		}
	}
	if target == nil {
		return connect.NewResponse(res), nil
	}
	if id == s.replica.NodeID() {
		return nil, c.handOn(ctx)
	}
	if target.Suffrage == consensus.Voter {
		remaining, alive := voters-1, reachable
		if target.Healthy {
			alive--
		}
		if alive < remaining/2+1 {
			return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%w: %s is one of %d voters, %d of them reachable",
				errQuorumUnsafe, id, voters, reachable))
		}
	}
	s.log.Info("removing raft server on request", "server", id, "caller", callerFrom(ctx).subject())
	if err := s.replica.RemoveServer(ctx, id); err != nil {
		return nil, toConnect(err)
	}
	res.Removed = true
	return connect.NewResponse(res), nil
}

// handOn answers a request to remove the leader itself: hashicorp/raft
// would let the leader commit its own removal, but the cluster would then
// have no leader until an election; handing on first keeps one. The
// refusal names the new leader, whom the forwarder asks next.
func (c *clusterService) handOn(ctx context.Context) error {
	s := c.s
	if err := s.replica.TransferLeadership(ctx, ""); err != nil {
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("hand on leadership before removing the leader: %w", err))
	}
	err := connect.NewError(connect.CodeUnavailable, errLeaderHandedOn)
	if id, _ := s.replica.Leader(); id != "" && id != s.replica.NodeID() {
		err.Meta().Set(HeaderLeader, formation.NodeName(id))
	}
	return err
}
