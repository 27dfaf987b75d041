package api

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/upgrade"
	upgradev1 "github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1/upgradev1connect"
)

// UpgradeOps runs the cluster's rolling upgrade on the Raft leader (the
// node package's, which reads the artifact, the members and the store):
// UpgradeService forwards every call to the leader, whose ops answer it.
type UpgradeOps interface {
	// Start checks req against the artifact and the cluster and stores
	// the plan (or, with DryRun, only makes it).
	Start(ctx context.Context, req UpgradeStart) (upgrade.Plan, error)
	// Status reads the plan (upgrade.ErrNoPlan before the first).
	Status(ctx context.Context) (upgrade.Plan, error)
	// Change compare-and-sets fn applied to the plan (pause, resume,
	// abort).
	Change(ctx context.Context, fn func(upgrade.Plan) (upgrade.Plan, error)) (upgrade.Plan, error)
	// Rollback replaces the plan with its rollback (upgrade.Rollback).
	Rollback(ctx context.Context) (upgrade.Plan, error)
}

// UpgradeStart is an operator's Start, as the leader's ops get it.
type UpgradeStart struct {
	ID     string
	Digest string
	// Request is everything but the target's version and size, which the
	// ops read from the artifact.
	Request upgrade.Request
	DryRun  bool
}

// errNoUpgrades is what a control plane without upgrade ops answers.
var errNoUpgrades = errors.New("this node runs no upgrades")

// upgradeService serves cairn.upgrade.v1.UpgradeService: on the leader
// from its ops, elsewhere by forwarding.
type upgradeService struct {
	ops UpgradeOps
	s   *Server
}

var _ upgradev1connect.UpgradeServiceHandler = (*upgradeService)(nil)

// upgradeClient returns a client for name's upgrade service, over the
// peer transport.
func (s *Server) upgradeClient(name string) (upgradev1connect.UpgradeServiceClient, error) {
	addr, err := s.memberAPI(name)
	if err != nil {
		return nil, err
	}
	return upgradev1connect.NewUpgradeServiceClient(&http.Client{Transport: s.peers}, "https://"+addr, connect.WithGRPC()), nil
}

// onLeader runs fn on the leader: here when this node leads, else
// forwarded (call) to it.
func onLeader[Req, Res any](ctx context.Context, u *upgradeService, req *connect.Request[Req],
	call func(upgradev1connect.UpgradeServiceClient, context.Context, *connect.Request[Req]) (*connect.Response[Res], error),
	fn func() (*Res, error),
) (*connect.Response[Res], error) {
	s := u.s
	if !s.isLeader() {
		return forwardVia(ctx, s, req, s.upgradeClient, call)
	}
	if u.ops == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoUpgrades)
	}
	res, err := fn()
	if lostLeadership(err) && req.Header().Get(HeaderForwarded) == "" {
		return forwardVia(ctx, s, req, s.upgradeClient, call)
	}
	if err != nil {
		return nil, upgradeError(err)
	}
	return connect.NewResponse(res), nil
}

// Start implements cairn.upgrade.v1.UpgradeService.
func (u *upgradeService) Start(ctx context.Context, req *connect.Request[upgradev1.StartRequest]) (*connect.Response[upgradev1.StartResponse], error) {
	m := req.Msg
	if m.GetPlanId() == "" && !m.GetDryRun() {
		// A forwarded Start retried elsewhere is the same plan.
		m.PlanId = "upgrade-" + consensus.NewRequestID()[:8]
	}
	return onLeader(ctx, u, req, upgradev1connect.UpgradeServiceClient.Start, func() (*upgradev1.StartResponse, error) {
		t := m.GetTimeouts()
		p, err := u.ops.Start(ctx, UpgradeStart{
			ID: m.GetPlanId(), Digest: m.GetDigest(), DryRun: m.GetDryRun(),
			Request: upgrade.Request{
				Order: upgrade.Order(m.GetOrder()), MaxUnavailable: int(m.GetMaxUnavailable()), AllowDowngrade: m.GetAllowDowngrade(),
				Timeouts: upgrade.Timeouts{Install: dur(t.GetInstall()), Reboot: dur(t.GetReboot()), Verify: dur(t.GetVerify()), Stabilize: dur(t.GetStabilize())},
			},
		})
		if err != nil {
			return nil, err
		}
		if !m.GetDryRun() {
			u.s.log.Info("upgrade started", "plan", p.ID, "target", p.Target.Version, "digest", p.Target.Digest, "caller", callerFrom(ctx).subject())
		}
		return &upgradev1.StartResponse{Plan: planMessage(p, u.s.opts.NodeName), DryRun: m.GetDryRun()}, nil
	})
}

// Status implements cairn.upgrade.v1.UpgradeService.
func (u *upgradeService) Status(ctx context.Context, req *connect.Request[upgradev1.StatusRequest]) (*connect.Response[upgradev1.StatusResponse], error) {
	return onLeader(ctx, u, req, upgradev1connect.UpgradeServiceClient.Status, func() (*upgradev1.StatusResponse, error) {
		p, err := u.ops.Status(ctx)
		if err != nil {
			return nil, err
		}
		return &upgradev1.StatusResponse{Plan: planMessage(p, u.s.opts.NodeName)}, nil
	})
}

// change is Pause, Resume and Abort: fn applied to the stored plan.
func (u *upgradeService) change(ctx context.Context, what string, fn func(upgrade.Plan) (upgrade.Plan, error)) (*upgradev1.Plan, error) {
	p, err := u.ops.Change(ctx, fn)
	if err != nil {
		return nil, err
	}
	u.s.log.Info("upgrade plan changed", "plan", p.ID, "change", what, "phase", p.Phase, "caller", callerFrom(ctx).subject())
	return planMessage(p, u.s.opts.NodeName), nil
}

// Pause implements cairn.upgrade.v1.UpgradeService.
func (u *upgradeService) Pause(ctx context.Context, req *connect.Request[upgradev1.PauseRequest]) (*connect.Response[upgradev1.PauseResponse], error) {
	reason := cmp.Or(req.Msg.GetReason(), "paused by an operator")
	return onLeader(ctx, u, req, upgradev1connect.UpgradeServiceClient.Pause, func() (*upgradev1.PauseResponse, error) {
		p, err := u.change(ctx, "pause", func(p upgrade.Plan) (upgrade.Plan, error) { return upgrade.Pause(p, reason) })
		return &upgradev1.PauseResponse{Plan: p}, err
	})
}

// Resume implements cairn.upgrade.v1.UpgradeService.
func (u *upgradeService) Resume(ctx context.Context, req *connect.Request[upgradev1.ResumeRequest]) (*connect.Response[upgradev1.ResumeResponse], error) {
	return onLeader(ctx, u, req, upgradev1connect.UpgradeServiceClient.Resume, func() (*upgradev1.ResumeResponse, error) {
		p, err := u.change(ctx, "resume", upgrade.Resume)
		return &upgradev1.ResumeResponse{Plan: p}, err
	})
}

// Abort implements cairn.upgrade.v1.UpgradeService.
func (u *upgradeService) Abort(ctx context.Context, req *connect.Request[upgradev1.AbortRequest]) (*connect.Response[upgradev1.AbortResponse], error) {
	reason := cmp.Or(req.Msg.GetReason(), "aborted by an operator")
	return onLeader(ctx, u, req, upgradev1connect.UpgradeServiceClient.Abort, func() (*upgradev1.AbortResponse, error) {
		p, err := u.change(ctx, "abort", func(p upgrade.Plan) (upgrade.Plan, error) { return upgrade.Abort(p, reason) })
		return &upgradev1.AbortResponse{Plan: p}, err
	})
}

// Rollback implements cairn.upgrade.v1.UpgradeService.
func (u *upgradeService) Rollback(ctx context.Context, req *connect.Request[upgradev1.RollbackRequest]) (*connect.Response[upgradev1.RollbackResponse], error) {
	return onLeader(ctx, u, req, upgradev1connect.UpgradeServiceClient.Rollback, func() (*upgradev1.RollbackResponse, error) {
		p, err := u.ops.Rollback(ctx)
		if err != nil {
			return nil, err
		}
		u.s.log.Info("upgrade rollback started", "plan", p.ID, "nodes", len(p.Steps), "caller", callerFrom(ctx).subject())
		return &upgradev1.RollbackResponse{Plan: planMessage(p, u.s.opts.NodeName)}, nil
	})
}

func dur(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

// upgradeError maps the upgrade package's refusals to codes.
func upgradeError(err error) error {
	switch {
	case errors.Is(err, upgrade.ErrInvalid), errors.Is(err, upgrade.ErrBadArtifact):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, upgrade.ErrPlanExists), errors.Is(err, upgrade.ErrPhase), errors.Is(err, upgrade.ErrUnsupported):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, upgrade.ErrNoPlan):
		return connect.NewError(connect.CodeNotFound, err)
	}
	return toConnect(err)
}

// planMessage renders p, its steps in upgrade order (leader's node last
// of its role).
func planMessage(p upgrade.Plan, leader string) *upgradev1.Plan {
	out := &upgradev1.Plan{
		Id: p.ID, TargetVersion: p.Target.Version, Digest: p.Target.Digest, Size: p.Target.Size, Order: string(p.Order),
		MaxUnavailable: int32(p.MaxUnavailable), Phase: string(p.Phase), Reason: p.Reason, Waiting: p.Waiting,
		Created: timestamppb.New(p.Created), Leader: leader, Rollback: p.Rollback,
		Timeouts: &upgradev1.Timeouts{
			Install: durationpb.New(p.Timeouts.Install), Reboot: durationpb.New(p.Timeouts.Reboot),
			Verify: durationpb.New(p.Timeouts.Verify), Stabilize: durationpb.New(p.Timeouts.Stabilize),
		},
	}
	for _, name := range p.InOrder(leader) {
		s := p.Steps[name]
		out.Steps = append(out.Steps, &upgradev1.Step{
			Node: name, Role: s.Role, State: string(s.State), Since: timestamppb.New(s.Since), From: s.From,
			Attempt: int32(s.Attempt), Confirm: s.Confirm, Reason: s.Reason, Target: p.TargetOf(name),
		})
	}
	return out
}
