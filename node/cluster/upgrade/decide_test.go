package upgrade

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func members(cps, workers int, version string) []Member {
	var out []Member
	for i := 1; i <= cps; i++ {
		out = append(out, Member{Name: fmt.Sprintf("cp%d", i), Role: RoleControlPlane, Version: version})
	}
	for i := 1; i <= workers; i++ {
		out = append(out, Member{Name: fmt.Sprintf("worker%d", i), Role: RoleWorker, Version: version})
	}
	return out
}

func TestNewPlanRefusesBadRequests(t *testing.T) {
	ms := members(3, 2, "v1.0.0")
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"no version", Request{Target: Target{Digest: digest}}, "target version is empty"},
		{"bad digest", Request{Target: Target{Version: "v2.0.0", Digest: "md5:abc"}}, `artifact digest "md5:abc" is not sha256`},
		{"bad order", Request{Target: Target{Version: "v2.0.0", Digest: digest}, Order: "random"}, `order "random"`},
		{"all workers at once", Request{Target: Target{Version: "v2.0.0", Digest: digest}, MaxUnavailable: 2}, "would take all 2 workers down at once"},
		{"negative", Request{Target: Target{Version: "v2.0.0", Digest: digest}, MaxUnavailable: -1}, "maxUnavailable -1 is below 1"},
		{"downgrade", Request{Target: Target{Version: "v0.9.0", Digest: digest}}, "target v0.9.0 is older than v1.0.0 on cp1 (--allow-downgrade"},
		{"negative timeout", Request{Target: Target{Version: "v2.0.0", Digest: digest}, Timeouts: Timeouts{Verify: -time.Second}}, "verify timeout -1s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPlan("p1", tc.req, ms, t0)
			require.ErrorIs(t, err, ErrInvalid)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	p, err := NewPlan("p1", Request{Target: Target{Version: "v0.9.0", Digest: digest}, AllowDowngrade: true}, ms, t0)
	require.NoError(t, err, "a downgrade allowed")
	assert.Equal(t, OrderWorkersFirst, p.Order)
	assert.Equal(t, 1, p.MaxUnavailable)
	assert.Equal(t, DefaultTimeouts(), p.Timeouts)
	assert.Equal(t, PhaseRunning, p.Phase)
	assert.Len(t, p.Steps, 5)
	assert.Equal(t, []string{"worker1", "worker2", "cp1", "cp2", "cp3"}, p.Names())
	p.Order = OrderControlPlanesFirst
	assert.Equal(t, []string{"cp1", "cp2", "cp3", "worker1", "worker2"}, p.Names())
}

// simNode is a node of the simulated cluster: it acts on its step as the
// node agent and boot stage will (install, leave, come back on trial,
// confirm once told), with delays in passes.
type simNode struct {
	name, role string
	view       NodeView
	// bad: its new slot exits at start, so the boot stage falls back.
	bad   bool
	timer int // passes until its next move
	phase string
	// pods: a kubelet node's pods still to evict; blocks: drain rounds a
	// PodDisruptionBudget refuses before the next eviction goes through.
	pods, blocks int
	drained      bool // it was seen cordoned and empty at least once
	uncordons    int
}

type sim struct {
	t      *testing.T
	rng    *rand.Rand
	plan   Plan
	nodes  map[string]*simNode
	leader string
	now    time.Time
	// what happened, for the invariants
	upgradeOrder []string
	maxWorkersDn int
}

func newSim(t *testing.T, seed uint64, cps, workers int, req Request) *sim {
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, 1)), nodes: map[string]*simNode{}, now: t0, leader: "cp1"}
	ms := members(cps, workers, "v1.0.0")
	for _, m := range ms {
		s.nodes[m.Name] = &simNode{name: m.Name, role: m.Role, view: NodeView{Alive: true, Healthy: true, Version: "v1.0.0"}}
	}
	if req.Target.Version == "" {
		req.Target = Target{Version: "v2.0.0", Digest: digest}
	}
	p, err := NewPlan("p1", req, ms, t0)
	require.NoError(t, err)
	s.plan = p
	return s
}

func (s *sim) view() View {
	v := View{Nodes: map[string]NodeView{}, Leader: s.leader}
	for name, n := range s.nodes {
		nv := n.view
		nv.Drained = nv.Kubelet && nv.Cordoned && n.pods == 0
		v.Nodes[name] = nv
	}
	if !s.nodes[s.leader].view.Alive {
		v.Problems = []string{"no Raft leader"}
	}
	return v
}

// move plays one pass of every node.
func (s *sim) move() {
	for _, name := range sortedKeys(s.nodes) {
		n := s.nodes[name]
		st := s.plan.Steps[name]
		if n.timer > 0 {
			n.timer--
			continue
		}
		delay := func() int { return s.rng.IntN(4) }
		switch {
		case st.State == StateInstalling && n.phase == "":
			n.phase, n.timer = "installed", delay()
		case n.phase == "installed":
			n.view.Alive, n.view.Healthy, n.phase, n.timer = false, false, "rebooting", delay()
			if name == s.leader {
				s.leader = s.otherLeader(name)
			}
		case n.phase == "rebooting" && n.bad:
			n.view = NodeView{Alive: true, Healthy: true, Version: "v1.0.0", FallbackAt: s.now, FallbackReason: "slot B started without confirming it"}
			n.phase = "fell back"
		case n.phase == "rebooting":
			n.view.Alive, n.view.Version, n.view.Trial, n.phase, n.timer = true, s.plan.Target.Version, true, "verifying", delay()
		case n.phase == "verifying":
			n.view.Healthy = true
			if st.Confirm {
				n.view.Trial, n.phase = false, "confirmed"
			}
		}
	}
}

func (s *sim) otherLeader(not string) string {
	for _, name := range sortedKeys(s.nodes) {
		if n := s.nodes[name]; n.role == RoleControlPlane && name != not && n.view.Alive {
			return name
		}
	}
	return ""
}

// pass runs Decide once and checks the invariants of the plan it made.
func (s *sim) pass() {
	s.t.Helper()
	before := s.plan
	next, actions := Decide(s.plan, s.view(), s.now)
	for _, a := range actions {
		switch a.Kind {
		case ActionTransferLeadership:
			s.leader = s.otherLeader(s.leader)
		case ActionDrain:
			n := s.nodes[a.Node]
			require.True(s.t, n.view.Kubelet, "only kubelet nodes are drained: %s", a.Node)
			require.Equal(s.t, StateDraining, next.Steps[a.Node].State, "%s drained only while draining", a.Node)
			n.view.Cordoned = true
			switch {
			case n.pods == 0:
			case n.blocks > 0:
				n.blocks--
				n.view.DrainBlocked = "default/web: Cannot evict pod as it would violate the pod's disruption budget."
			default:
				n.pods--
				n.view.DrainBlocked = ""
			}
			n.drained = n.drained || n.pods == 0
		case ActionUncordon:
			n := s.nodes[a.Node]
			st := next.Steps[a.Node]
			require.True(s.t, st.State == StateFailed || (n.view.Alive && n.view.Healthy && !n.view.Trial),
				"%s uncordoned only once back, healthy and confirmed, or failed: %s %+v", a.Node, st.State, n.view)
			n.view.Cordoned = false
			n.uncordons++
		default:
			s.t.Fatalf("unknown action %+v", a)
		}
	}
	for _, name := range next.Names() {
		if next.Steps[name].State == StateInstalling && before.Steps[name].State == StatePending {
			s.upgradeOrder = append(s.upgradeOrder, name)
			require.NotEqual(s.t, s.leader, name, "the Raft leader is never granted its upgrade")
		}
	}
	s.plan = next
	s.checkInvariants()
	s.move()
	s.checkInvariants()
	s.now = s.now.Add(time.Second)
}

func (s *sim) checkInvariants() {
	s.t.Helper()
	var cpsDown, workersDown, cpsBusy int
	for name, n := range s.nodes {
		down := !n.view.Alive || !n.view.Healthy
		if n.view.Kubelet && !n.view.Alive {
			require.True(s.t, n.view.Cordoned && n.pods == 0, "%s restarts only cordoned and drained", name)
		}
		if n.role == RoleControlPlane {
			if down {
				cpsDown++
			}
			if s.plan.Steps[name].State.inProgress() {
				cpsBusy++
			}
		} else if down {
			workersDown++
		}
	}
	s.maxWorkersDn = max(s.maxWorkersDn, workersDown)
	require.LessOrEqual(s.t, workersDown, s.plan.MaxUnavailable, "at most maxUnavailable workers down")
	require.LessOrEqual(s.t, cpsDown, 1, "control planes one at a time")
	require.LessOrEqual(s.t, cpsBusy, 1)
	require.False(s.t, cpsDown > 0 && workersDown > 0, "workers and control planes never down together")
}

func (s *sim) run(passes int) {
	s.t.Helper()
	for range passes {
		if s.plan.Phase != PhaseRunning {
			return
		}
		s.pass()
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// A 3+2 cluster upgrades to the end under random delays: every gate
// holds at every pass, workers go first, the Raft leader's node last.
func TestDecideRollsTheWholeCluster(t *testing.T) {
	for seed := range uint64(50) {
		for _, mu := range []int{1, 2} {
			t.Run(fmt.Sprintf("seed%d-max%d", seed, mu), func(t *testing.T) {
				s := newSim(t, seed, 3, 3, Request{MaxUnavailable: mu})
				s.run(500)
				require.Equal(t, PhaseDone, s.plan.Phase, "plan %+v", s.plan)
				for name, n := range s.nodes {
					assert.Equal(t, "v2.0.0", n.view.Version, name)
					assert.False(t, n.view.Trial, name)
					assert.Equal(t, StateDone, s.plan.Steps[name].State, name)
					assert.Equal(t, 1, s.plan.Steps[name].Attempt, "%s upgraded once", name)
				}
				require.Len(t, s.upgradeOrder, 6)
				for _, name := range s.upgradeOrder[:3] {
					assert.Equal(t, RoleWorker, s.plan.Steps[name].Role, "workers first: %v", s.upgradeOrder)
				}
				assert.Equal(t, "cp1", s.upgradeOrder[5], "cp1, the first leader, goes last: %v", s.upgradeOrder)
				if mu == 2 {
					assert.LessOrEqual(t, s.maxWorkersDn, 2)
				}
			})
		}
	}
}

// Nodes that run a kubelet are cordoned and drained before they restart
// (a disruption budget holding the drain up only delays it) and
// uncordoned once back, healthy and confirmed: every gate still holds.
func TestDecideDrainsKubeletNodes(t *testing.T) {
	for seed := range uint64(30) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			s := newSim(t, seed, 3, 3, Request{MaxUnavailable: 2})
			for _, n := range s.nodes {
				n.view.Kubelet = true
				n.pods, n.blocks = s.rng.IntN(4), s.rng.IntN(5)
			}
			s.run(800)
			require.Equal(t, PhaseDone, s.plan.Phase, "plan %+v", s.plan)
			for name, n := range s.nodes {
				assert.True(t, n.drained, "%s was drained", name)
				assert.False(t, n.view.Cordoned, "%s uncordoned at the end", name)
				assert.Equal(t, 1, n.uncordons, "%s uncordoned once", name)
				assert.Equal(t, "v2.0.0", n.view.Version, name)
			}
		})
	}
}

// A drain that a disruption budget holds up past the install timeout
// fails the node with the budget's words, pauses the plan, and the node
// (on its old release, never restarted) is uncordoned.
func TestDecideDrainTimeout(t *testing.T) {
	s := newSim(t, 1, 1, 2, Request{Timeouts: Timeouts{Install: 30 * time.Second}})
	for _, n := range s.nodes {
		n.view.Kubelet = true
	}
	s.nodes["worker1"].pods, s.nodes["worker1"].blocks = 1, 1000
	s.run(100)
	require.Equal(t, PhasePaused, s.plan.Phase)
	assert.Contains(t, s.plan.Reason, "worker1: not drained within 30s: default/web: Cannot evict pod as it would violate the pod's disruption budget.")
	for range 3 {
		s.pass()
	}
	w := s.nodes["worker1"]
	assert.Equal(t, "v1.0.0", w.view.Version, "never restarted")
	assert.False(t, w.view.Cordoned, "schedulable again")
	for _, name := range []string{"worker2", "cp1"} {
		assert.Equal(t, StatePending, s.plan.Steps[name].State, "%s untouched", name)
		assert.False(t, s.nodes[name].view.Cordoned, name)
	}
}

// A node whose new slot falls back fails, the plan pauses with the boot
// stage's reason, and no other node is granted anything; resume tries it
// once more.
func TestDecidePausesOnAFallback(t *testing.T) {
	s := newSim(t, 7, 3, 2, Request{})
	s.nodes["worker1"].bad = true
	s.run(100)
	require.Equal(t, PhasePaused, s.plan.Phase)
	assert.Contains(t, s.plan.Reason, "worker1: came back at v1.0.0, not v2.0.0 (boot stage: slot B started without confirming it)")
	assert.Equal(t, StateFailed, s.plan.Steps["worker1"].State)
	for _, name := range []string{"worker2", "cp1", "cp2", "cp3"} {
		assert.Equal(t, StatePending, s.plan.Steps[name].State, "%s untouched", name)
	}
	for range 20 {
		next, actions := Decide(s.plan, s.view(), s.now)
		require.Equal(t, s.plan, next, "a paused plan does not move")
		require.Empty(t, actions)
		s.now = s.now.Add(time.Minute)
	}

	resumed, err := Resume(s.plan)
	require.NoError(t, err)
	assert.Equal(t, StatePending, resumed.Steps["worker1"].State)
	s.plan = resumed
	s.nodes["worker1"].bad, s.nodes["worker1"].phase = false, ""
	s.run(500)
	require.Equal(t, PhaseDone, s.plan.Phase)
	assert.Equal(t, 2, s.plan.Steps["worker1"].Attempt)
}

// A node that never comes back, or never becomes healthy, fails at its
// step's timeout.
func TestDecideTimeouts(t *testing.T) {
	req := Request{Timeouts: Timeouts{Install: time.Minute, Reboot: time.Minute, Verify: time.Minute, Stabilize: 5 * time.Second}}
	p, err := NewPlan("p1", req.with(), members(1, 2, "v1.0.0"), t0)
	require.NoError(t, err)
	up := NodeView{Alive: true, Healthy: true, Version: "v1.0.0"}
	v := View{Nodes: map[string]NodeView{"cp1": up, "worker1": up, "worker2": up}, Leader: "cp1"}
	p, _ = Decide(p, v, t0)
	require.Equal(t, StateInstalling, p.Steps["worker1"].State)
	require.Equal(t, StatePending, p.Steps["worker2"].State, "one worker at a time")

	// Installing, never restarting.
	stuck, _ := Decide(p, v, t0.Add(61*time.Second))
	require.Equal(t, PhasePaused, stuck.Phase)
	assert.Contains(t, stuck.Reason, "worker1: did not restart into v2.0.0 within 1m0s")

	// Down, never back.
	v.Nodes["worker1"] = NodeView{}
	p, _ = Decide(p, v, t0.Add(10*time.Second))
	require.Equal(t, StateRebooting, p.Steps["worker1"].State)
	gone, _ := Decide(p, v, t0.Add(71*time.Second))
	assert.Contains(t, gone.Reason, "worker1: not back at v2.0.0 within 1m0s")

	// Back on trial, never healthy.
	v.Nodes["worker1"] = NodeView{Alive: true, Version: "v2.0.0", Trial: true}
	p, _ = Decide(p, v, t0.Add(20*time.Second))
	require.Equal(t, StateVerifying, p.Steps["worker1"].State)
	sick, _ := Decide(p, v, t0.Add(81*time.Second))
	assert.Contains(t, sick.Reason, "worker1: not healthy and confirmed at v2.0.0 within 1m0s")

	// Healthy: told to confirm only after Stabilize, done once confirmed.
	v.Nodes["worker1"] = NodeView{Alive: true, Healthy: true, Version: "v2.0.0", Trial: true}
	p, _ = Decide(p, v, t0.Add(21*time.Second))
	assert.False(t, p.Steps["worker1"].Confirm)
	p, _ = Decide(p, v, t0.Add(26*time.Second))
	assert.True(t, p.Steps["worker1"].Confirm)
	v.Nodes["worker1"] = NodeView{Alive: true, Healthy: true, Version: "v2.0.0"}
	p, _ = Decide(p, v, t0.Add(27*time.Second))
	assert.Equal(t, StateDone, p.Steps["worker1"].State)
	assert.Equal(t, StateInstalling, p.Steps["worker2"].State, "the next worker in the same pass")
}

func (r Request) with() Request {
	r.Target = Target{Version: "v2.0.0", Digest: digest}
	return r
}

// A control plane goes only while the others keep a majority, and not
// while a node is down or the cluster has a problem.
func TestDecideGates(t *testing.T) {
	p, err := NewPlan("p1", Request{Order: OrderControlPlanesFirst}.with(), members(3, 1, "v1.0.0"), t0)
	require.NoError(t, err)
	up := NodeView{Alive: true, Healthy: true, Version: "v1.0.0"}
	v := View{Nodes: map[string]NodeView{"cp1": up, "cp2": up, "cp3": {Alive: true, Version: "v1.0.0"}, "worker1": up}, Leader: "cp1"}
	next, _ := Decide(p, v, t0)
	assert.Equal(t, "waiting for cp3 to be up", next.Waiting)
	assert.Equal(t, 0, next.Count(StateInstalling))

	v.Nodes["cp3"] = up
	v.Problems = []string{"etcd: 2 of 3 members healthy"}
	next, _ = Decide(p, v, t0)
	assert.Equal(t, "cluster health: etcd: 2 of 3 members healthy", next.Waiting)

	v.Problems = nil
	next, actions := Decide(p, v, t0)
	assert.Empty(t, actions)
	assert.Equal(t, StateInstalling, next.Steps["cp2"].State, "cp1 leads: cp2 goes first")

	// Only the leader's node left: it hands leadership over first.
	for _, n := range []string{"cp2", "cp3", "worker1"} {
		p.Steps[n].State = StateDone
	}
	next, actions = Decide(p, v, t0)
	assert.Equal(t, []Action{{Kind: ActionTransferLeadership}}, actions)
	assert.Equal(t, StatePending, next.Steps["cp1"].State)
	v.Leader = "cp2"
	next, actions = Decide(p, v, t0)
	assert.Empty(t, actions)
	assert.Equal(t, StateInstalling, next.Steps["cp1"].State)
}

func TestPauseResumeAbort(t *testing.T) {
	p, err := NewPlan("p1", Request{}.with(), members(1, 0, "v1.0.0"), t0)
	require.NoError(t, err)
	_, err = Resume(p)
	require.ErrorIs(t, err, ErrPhase, "a running plan is not resumed")
	paused, err := Pause(p, "operator")
	require.NoError(t, err)
	assert.Equal(t, PhasePaused, paused.Phase)
	_, err = Pause(paused, "again")
	require.ErrorIs(t, err, ErrPhase)
	aborted, err := Abort(paused, "operator")
	require.NoError(t, err)
	assert.True(t, aborted.Phase.Finished())
	_, err = Abort(aborted, "again")
	require.ErrorIs(t, err, ErrPhase)
	assert.Equal(t, PhaseRunning, p.Phase, "the original is not changed")
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"v1.2.3", "v1.2.3", 0},
		{"v1.2.3", "1.2.4", -1},
		{"v1.10.0", "v1.9.9", 1},
		{"v2.0.0-rc.1", "v2.0.0", -1},
		{"v2.0.0-3-gabcdef0", "v2.0.0", 0},
		{"v2.0.0-3-gabcdef0-dirty", "v1.0.0", 1},
		{"0e126bb", "v1.0.0", 0},
		{"dev", "dev", 0},
	} {
		assert.Equal(t, tc.want, CompareVersions(tc.a, tc.b), "%s vs %s", tc.a, tc.b)
	}
}

// A worker upgraded beside one that fails still finishes: the paused plan
// grants nothing more, but tells it to confirm once healthy.
func TestDecidePausedPlanFinishesNodesInProgress(t *testing.T) {
	s := newSim(t, 11, 3, 3, Request{MaxUnavailable: 2})
	s.nodes["worker1"].bad = true
	s.run(100)
	require.Equal(t, PhasePaused, s.plan.Phase)
	require.True(t, s.plan.Steps["worker2"].State.inProgress(), "worker2 was being upgraded when the plan paused: %s", s.plan.Steps["worker2"].State)
	for range 100 {
		s.pass()
	}
	assert.Equal(t, StateFailed, s.plan.Steps["worker1"].State)
	assert.Equal(t, StateDone, s.plan.Steps["worker2"].State, "granted with worker1, it finished")
	assert.False(t, s.nodes["worker2"].view.Trial, "and confirmed its slot")
	for _, name := range []string{"worker3", "cp1", "cp2", "cp3"} {
		assert.Equal(t, StatePending, s.plan.Steps[name].State, "%s not granted while paused", name)
	}
	assert.Contains(t, s.plan.Reason, "worker1: came back at v1.0.0")
}
