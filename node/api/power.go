package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/node/machine/etcd"
	"github.com/cairn-project/cairn/node/machine/power"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// errNoPower is returned by the power RPCs on a server built without
// Options.Power.
var errNoPower = errors.New("this node cannot be stopped through its API")

// errNotLeft heads a graceful reset's failure to leave Raft.
var errNotLeft = errors.New("could not leave raft, so nothing was reset (a reset that is not graceful skips leaving)")

// leaveTimeout bounds a graceful reset's leaving: Raft (an election, when
// the leader hands on leadership, and a configuration change) and gossip.
const leaveTimeout = 30 * time.Second

// Reboot implements cairn.machine.v1.MachineService.
func (m *machineService) Reboot(ctx context.Context, _ *connect.Request[machinev1.RebootRequest]) (*connect.Response[machinev1.RebootResponse], error) {
	if err := m.stop(ctx, &power.Request{Action: power.Reboot}); err != nil {
		return nil, err
	}
	return connect.NewResponse(&machinev1.RebootResponse{NodeName: m.s.opts.NodeName, BootId: m.s.opts.BootID}), nil
}

// Shutdown implements cairn.machine.v1.MachineService.
func (m *machineService) Shutdown(ctx context.Context, _ *connect.Request[machinev1.ShutdownRequest]) (*connect.Response[machinev1.ShutdownResponse], error) {
	if err := m.stop(ctx, &power.Request{Action: power.Poweroff}); err != nil {
		return nil, err
	}
	return connect.NewResponse(&machinev1.ShutdownResponse{NodeName: m.s.opts.NodeName, BootId: m.s.opts.BootID}), nil
}

// Reset implements cairn.machine.v1.MachineService: leave (graceful), then
// answer, then stop; node.Run wipes the state once everything that holds
// it (Raft, the supervisor's logs) is closed.
func (m *machineService) Reset(ctx context.Context, req *connect.Request[machinev1.ResetRequest]) (*connect.Response[machinev1.ResetResponse], error) {
	s := m.s
	if s.opts.Power == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errNoPower)
	}
	graceful := req.Msg.Graceful == nil || req.Msg.GetGraceful()
	action := power.Reboot
	if req.Msg.Reboot != nil && !req.Msg.GetReboot() {
		action = power.Poweroff
	}
	res := &machinev1.ResetResponse{NodeName: s.opts.NodeName, BootId: s.opts.BootID, StateId: s.opts.StateID}
	if graceful {
		lctx, cancel := context.WithTimeout(ctx, leaveTimeout)
		defer cancel()
		// etcd first (as talosctl reset does): a member that vanishes
		// with the wipe would count against etcd's quorum until the
		// leader removed it, and leaving is refused when it would cost
		// the quorum — before anything else has changed.
		left, err := s.leaveEtcd(lctx)
		if err != nil {
			return nil, err
		}
		res.LeftEtcd = left
		if s.opts.ControlPlane {
			if err := s.leaveRaft(lctx); err != nil {
				return nil, err
			}
			res.LeftRaft = true
		}
		if err := s.opts.Power.LeaveGossip(lctx); err != nil {
			// The others notice the node gone all the same, only later.
			s.log.Warn("reset: announce leave in gossip", "error", err)
		} else {
			res.LeftGossip = true
		}
	}
	if err := m.stop(ctx, &power.Request{Action: action, Reset: true}); err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// leaveEtcd removes this node's etcd member, if it runs one, for a reset.
func (s *Server) leaveEtcd(ctx context.Context) (bool, error) {
	if !s.opts.ControlPlane || s.opts.Etcd == nil {
		return false, nil
	}
	m, err := s.opts.Etcd.Leave(ctx)
	if errors.Is(err, etcd.ErrNoMember) {
		return false, nil // no member runs here (not started, or gone already)
	}
	if err != nil {
		s.log.Warn("reset refused: leaving etcd", "error", err)
		return false, etcdError(fmt.Errorf("reset refused, nothing changed: leave etcd: %w", err))
	}
	s.log.Info("reset: left etcd", "member", fmt.Sprintf("%x", m.ID))
	return true, nil
}

// stop hands r, with who asked, to the node.
func (m *machineService) stop(ctx context.Context, r *power.Request) error {
	if m.s.opts.Power == nil {
		return connect.NewError(connect.CodeUnimplemented, errNoPower)
	}
	r.Reason = "asked through the API by " + callerFrom(ctx).rolesText()
	if cert := callerFrom(ctx).subject(); cert != "" {
		r.Reason = fmt.Sprintf("asked through the API by %s (%s)", cert, callerFrom(ctx).rolesText())
	}
	m.s.log.Warn("stopping for a power request", "action", r.Action, "reset", r.Reset, "reason", r.Reason)
	m.s.opts.Power.Stop(r)
	return nil
}

// leaveRaft removes this control plane from the Raft configuration. The
// leader removes servers, and a call is never forwarded to the node that
// forwards it, so a leader hands leadership on first; then the call goes
// to the new leader, which checks that the quorum survives.
func (s *Server) leaveRaft(ctx context.Context) error {
	if s.isLeader() {
		s.log.Info("reset: handing on leadership before leaving raft")
		if err := s.replica.TransferLeadership(ctx, ""); err != nil {
			return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("%w: hand on leadership: %w", errNotLeft, err))
		}
	}
	req := connect.NewRequest(&clusterv1.RemoveServerRequest{ServerId: s.replica.NodeID()})
	res, err := forward(ctx, s, req, clusterv1connect.ClusterServiceClient.RemoveServer)
	if err != nil {
		return connect.NewError(connect.CodeOf(err), fmt.Errorf("%w: %w", errNotLeft, err))
	}
	s.log.Info("reset: left raft", "server", s.replica.NodeID(), "leader", res.Msg.GetNodeName(), "removed", res.Msg.GetRemoved())
	return nil
}
