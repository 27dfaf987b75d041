package upgrade

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/testutil"
)

func TestStartRefusesASecondPlan(t *testing.T) {
	s := testutil.OpenStore(t)
	ctx := context.Background()
	_, err := Get(ctx, s)
	require.ErrorIs(t, err, ErrNoPlan)
	p1, err := NewPlan("p1", Request{}.with(), members(1, 0, "v1.0.0"), t0)
	require.NoError(t, err)
	require.NoError(t, Start(ctx, s, p1))
	p2, err := NewPlan("p2", Request{}.with(), members(1, 0, "v1.0.0"), t0)
	require.NoError(t, err)
	err = Start(ctx, s, p2)
	require.ErrorIs(t, err, ErrPlanExists)
	assert.ErrorContains(t, err, "plan p1 is running")

	paused, err := Change(ctx, s, func(p Plan) (Plan, error) { return Pause(p, "operator") })
	require.NoError(t, err)
	assert.Equal(t, PhasePaused, paused.Phase)
	require.ErrorIs(t, Start(ctx, s, p2), ErrPlanExists, "a paused plan is in progress too")
	_, err = Change(ctx, s, func(p Plan) (Plan, error) { return Pause(p, "again") })
	require.ErrorIs(t, err, ErrPhase)
	_, err = Change(ctx, s, func(p Plan) (Plan, error) { return Abort(p, "operator") })
	require.NoError(t, err)
	require.NoError(t, Start(ctx, s, p2), "an aborted plan is replaced")
	got, err := Get(ctx, s)
	require.NoError(t, err)
	assert.Equal(t, "p2", got.ID)
}

// The coordinator keeps nothing that matters in memory: a plan run by one
// coordinator and then by another (a new leader) reaches the end with
// every node upgraded once.
func TestCoordinatorContinuesAfterLeaderChange(t *testing.T) {
	s := testutil.OpenStore(t)
	ctx := context.Background()
	sm := newSim(t, 3, 3, 2, Request{})
	require.NoError(t, Start(ctx, s, sm.plan))
	coordinator := func() *Coordinator {
		c, err := NewCoordinator(CoordinatorConfig{
			Store: s, Now: func() time.Time { return sm.now },
			View: func(context.Context, Plan) (View, bool) { return sm.view(), true },
			TransferLeadership: func(context.Context) error {
				sm.leader = sm.otherLeader(sm.leader)
				return nil
			},
		})
		require.NoError(t, err)
		return c
	}
	c := coordinator()
	for i := range 400 {
		if i == 15 {
			c = coordinator() // leadership moved
		}
		require.NoError(t, c.Pass(ctx))
		p, err := Get(ctx, s)
		require.NoError(t, err)
		sm.plan = p
		if p.Phase != PhaseRunning {
			break
		}
		sm.checkInvariants()
		sm.move()
		sm.checkInvariants()
		sm.now = sm.now.Add(time.Second)
	}
	require.Equal(t, PhaseDone, sm.plan.Phase)
	for name, st := range sm.plan.Steps {
		assert.Equal(t, 1, st.Attempt, "%s upgraded once", name)
		assert.Equal(t, "v2.0.0", sm.nodes[name].view.Version)
	}
}

// A wake (a gossip change) brings the next pass forward, but never closer
// than MinGap to the last: a storm of wakes costs a pass per MinGap.
func TestCoordinatorWakesButNotTooOften(t *testing.T) {
	s := testutil.OpenStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := NewPlan("p1", Request{}.with(), members(1, 0, "v1.0.0"), t0)
	require.NoError(t, err)
	require.NoError(t, Start(ctx, s, p))
	views := make(chan time.Time, 100)
	wake := make(chan struct{}, 1)
	c, err := NewCoordinator(CoordinatorConfig{
		Store: s, Interval: time.Hour, MinGap: 200 * time.Millisecond, Wake: wake,
		View: func(context.Context, Plan) (View, bool) {
			views <- time.Now()
			return View{}, false // nothing known: the plan is left as it is
		},
		TransferLeadership: func(context.Context) error { return nil },
	})
	require.NoError(t, err)
	go c.Run(ctx)
	first := <-views // the pass at start
	wake <- struct{}{}
	second := <-views
	assert.GreaterOrEqual(t, second.Sub(first), 190*time.Millisecond, "not sooner than MinGap")
	assert.Less(t, second.Sub(first), 10*time.Second, "woken: not at the next hourly tick")
	for range 20 {
		select {
		case wake <- struct{}{}:
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	assert.LessOrEqual(t, len(views), 3, "twenty wakes in 200 ms, then 300 ms: at most a pass per MinGap")
}
