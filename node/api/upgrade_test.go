package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/upgrade"
	upgradev1 "github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/upgrade/v1/upgradev1connect"
)

// storeUpgrades is the leader's UpgradeOps over a real store, with a fixed
// artifact and members (the node package reads them from the artifact
// store and gossip).
type storeUpgrades struct{ store *consensus.Store }

var testDigest = "sha256:" + strings.Repeat("ab", 32)

func (s storeUpgrades) Start(ctx context.Context, req api.UpgradeStart) (upgrade.Plan, error) {
	if old, err := upgrade.Get(ctx, s.store); err == nil && old.ID == req.ID {
		return old, nil
	}
	r := req.Request
	r.Target = upgrade.Target{Version: "v2.0.0", Digest: req.Digest, Size: 42}
	p, err := upgrade.NewPlan(req.ID, r, []upgrade.Member{
		{Name: "n1", Role: upgrade.RoleControlPlane, Version: "v1.0.0"},
		{Name: "w1", Role: upgrade.RoleWorker, Version: "v1.0.0"},
		{Name: "w2", Role: upgrade.RoleWorker, Version: "v1.0.0"},
	}, time.Now())
	if err != nil || req.DryRun {
		return p, err
	}
	if err := upgrade.Start(ctx, s.store, p); err != nil {
		return upgrade.Plan{}, err
	}
	return upgrade.Get(ctx, s.store)
}

func (s storeUpgrades) Rollback(ctx context.Context) (upgrade.Plan, error) {
	return upgrade.StartRollback(ctx, s.store, map[string]string{"n1": "v1.0.0", "w1": "v2.0.0", "w2": "v1.0.0"}, time.Now())
}

func (s storeUpgrades) Status(ctx context.Context) (upgrade.Plan, error) {
	return upgrade.Get(ctx, s.store)
}

func (s storeUpgrades) Change(ctx context.Context, fn func(upgrade.Plan) (upgrade.Plan, error)) (upgrade.Plan, error) {
	return upgrade.Change(ctx, s.store, fn)
}

// UpgradeService on the leader: readers see the status, only admins
// start and change plans; bad requests are invalid_argument and store
// nothing; a second plan is refused naming the first, a retried start
// (same ID) answers with its plan; pause, resume and abort move the phase
// and refuse where they do not apply.
func TestUpgradeService(t *testing.T) {
	st := openStore(t, 0)
	addr, client := tlsAPI(t, api.Options{ControlPlane: true, Replica: st, Membership: noMembers{}, Upgrades: storeUpgrades{st}})
	cl := func(role string) upgradev1connect.UpgradeServiceClient {
		return upgradev1connect.NewUpgradeServiceClient(client(role), "https://"+addr, connect.WithGRPC())
	}
	admin, reader := cl(config.APIRoleAdmin), cl(config.APIRoleReader)
	ctx := t.Context()

	_, err := reader.Status(ctx, connect.NewRequest(&upgradev1.StatusRequest{}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "no plan yet: %v", err)
	_, err = reader.Start(ctx, connect.NewRequest(&upgradev1.StartRequest{Digest: testDigest}))
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
	_, err = admin.Start(ctx, connect.NewRequest(&upgradev1.StartRequest{Digest: testDigest, MaxUnavailable: 2}))
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	assert.ErrorContains(t, err, "would take all 2 workers down")
	_, err = admin.Start(ctx, connect.NewRequest(&upgradev1.StartRequest{Digest: testDigest, Order: "sideways"}))
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))

	dry, err := admin.Start(ctx, connect.NewRequest(&upgradev1.StartRequest{Digest: testDigest, DryRun: true}))
	require.NoError(t, err)
	assert.True(t, dry.Msg.GetDryRun())
	var order []string
	for _, s := range dry.Msg.GetPlan().GetSteps() {
		order = append(order, s.GetNode())
	}
	assert.Equal(t, []string{"w1", "w2", "n1"}, order, "workers first; the leader (n1) last")
	_, err = reader.Status(ctx, connect.NewRequest(&upgradev1.StatusRequest{}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "a dry run stores nothing")

	started, err := admin.Start(ctx, connect.NewRequest(&upgradev1.StartRequest{Digest: testDigest, PlanId: "upgrade-one",
		Timeouts: &upgradev1.Timeouts{}}))
	require.NoError(t, err)
	p := started.Msg.GetPlan()
	assert.Equal(t, "upgrade-one", p.GetId())
	assert.Equal(t, "running", p.GetPhase())
	assert.Equal(t, "v2.0.0", p.GetTargetVersion())
	assert.Equal(t, "n1", p.GetLeader())
	assert.Equal(t, 5*time.Minute, p.GetTimeouts().GetInstall().AsDuration(), "defaults filled in")
	again, err := admin.Start(ctx, connect.NewRequest(&upgradev1.StartRequest{Digest: testDigest, PlanId: "upgrade-one"}))
	require.NoError(t, err, "a retried start is the same plan")
	assert.Equal(t, p.GetCreated().AsTime(), again.Msg.GetPlan().GetCreated().AsTime())
	_, err = admin.Start(ctx, connect.NewRequest(&upgradev1.StartRequest{Digest: testDigest}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
	assert.ErrorContains(t, err, "upgrade-one", "the refusal names the running plan")

	_, err = reader.Pause(ctx, connect.NewRequest(&upgradev1.PauseRequest{}))
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
	paused, err := admin.Pause(ctx, connect.NewRequest(&upgradev1.PauseRequest{Reason: "lunch"}))
	require.NoError(t, err)
	assert.Equal(t, "paused", paused.Msg.GetPlan().GetPhase())
	assert.Equal(t, "lunch", paused.Msg.GetPlan().GetReason())
	_, err = admin.Pause(ctx, connect.NewRequest(&upgradev1.PauseRequest{}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "a paused plan does not pause again")
	resumed, err := admin.Resume(ctx, connect.NewRequest(&upgradev1.ResumeRequest{}))
	require.NoError(t, err)
	assert.Equal(t, "running", resumed.Msg.GetPlan().GetPhase())
	aborted, err := admin.Abort(ctx, connect.NewRequest(&upgradev1.AbortRequest{}))
	require.NoError(t, err)
	assert.Equal(t, "aborted", aborted.Msg.GetPlan().GetPhase())
	assert.Equal(t, "aborted by an operator", aborted.Msg.GetPlan().GetReason())
	status, err := reader.Status(ctx, connect.NewRequest(&upgradev1.StatusRequest{}))
	require.NoError(t, err)
	assert.Equal(t, "aborted", status.Msg.GetPlan().GetPhase())

	_, err = reader.Rollback(ctx, connect.NewRequest(&upgradev1.RollbackRequest{}))
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
	rb, err := admin.Rollback(ctx, connect.NewRequest(&upgradev1.RollbackRequest{}))
	require.NoError(t, err)
	assert.True(t, rb.Msg.GetPlan().GetRollback())
	assert.Equal(t, "upgrade-one-rollback", rb.Msg.GetPlan().GetId())
	require.Len(t, rb.Msg.GetPlan().GetSteps(), 1, "only w1 runs the target")
	assert.Equal(t, "w1", rb.Msg.GetPlan().GetSteps()[0].GetNode())
	assert.Equal(t, "v1.0.0", rb.Msg.GetPlan().GetSteps()[0].GetTarget())
	_, err = admin.Rollback(ctx, connect.NewRequest(&upgradev1.RollbackRequest{}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "a running rollback")
	_, err = admin.Abort(ctx, connect.NewRequest(&upgradev1.AbortRequest{}))
	require.NoError(t, err)

	next, err := admin.Start(ctx, connect.NewRequest(&upgradev1.StartRequest{Digest: testDigest}))
	require.NoError(t, err, "an aborted plan is replaced by the next")
	assert.NotEqual(t, "upgrade-one", next.Msg.GetPlan().GetId())
	assert.True(t, strings.HasPrefix(next.Msg.GetPlan().GetId(), "upgrade-"), "an ID made up: %s", next.Msg.GetPlan().GetId())
}

// A control plane without upgrade ops refuses rather than pretending.
func TestUpgradeServiceWithoutOps(t *testing.T) {
	st := openStore(t, 0)
	addr, client := tlsAPI(t, api.Options{ControlPlane: true, Replica: st, Membership: noMembers{}})
	cl := upgradev1connect.NewUpgradeServiceClient(client(config.APIRoleAdmin), "https://"+addr, connect.WithGRPC())
	_, err := cl.Status(t.Context(), connect.NewRequest(&upgradev1.StatusRequest{}))
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
}
