package upgrade

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// NodeView is one node as the leader sees it (gossip and the health
// check): a node is down when it is not Alive or not Healthy.
type NodeView struct {
	Alive   bool
	Healthy bool
	// Version is the cairnd version the node runs; Trial whether it runs
	// a boot slot on trial (not confirmed yet).
	Version string
	Trial   bool
	// FallbackAt is when its boot stage last abandoned a trial slot (zero:
	// never), FallbackReason why.
	FallbackAt     time.Time
	FallbackReason string
	// Kubelet: the node runs a kubelet, so its Kubernetes Node is cordoned
	// and drained before its upgrade and uncordoned once it is back and
	// healthy (its kubelet Ready: the health check's). Cordoned is its
	// Node's spec.unschedulable; Drained, that it is cordoned and no pod
	// is left to evict (DaemonSet and static pods stay, as with kubectl
	// drain); DrainBlocked what holds the drain up ("" when nothing does:
	// a PodDisruptionBudget that allows no disruption now). The three are
	// read for nodes in progress or failed only.
	Kubelet      bool
	Cordoned     bool
	Drained      bool
	DrainBlocked string
}

func (n NodeView) up() bool { return n.Alive && n.Healthy }

// View is the cluster as the leader sees it for one pass.
type View struct {
	Nodes map[string]NodeView
	// Problems are the shared health check's failures that are not about
	// one node (no Raft leader, etcd unhealthy), "" each when none.
	Problems []string
	// Leader is the Raft leader's node: upgraded last, after it handed
	// leadership over.
	Leader string
}

// Action is something the pass asks the leader to do beside writing the
// plan: Kind, and the node it is about ("" for none).
type Action struct {
	Kind ActionKind
	Node string
}

// ActionKind is what an Action does.
type ActionKind string

// The actions.
const (
	// ActionTransferLeadership: every other node is done and the leader's
	// own node is next; it hands Raft leadership over first, and the new
	// leader grants it.
	ActionTransferLeadership ActionKind = "transfer-leadership"
	// ActionDrain: cordon the node's Kubernetes Node and evict its pods
	// (through the Eviction API, so PodDisruptionBudgets hold); asked on
	// every pass while the node is draining, so each pass evicts what
	// the budgets allow by then.
	ActionDrain ActionKind = "drain"
	// ActionUncordon: make the node's Node schedulable again: it is back,
	// Ready and confirmed, or its upgrade failed and it runs its old
	// release.
	ActionUncordon ActionKind = "uncordon"
)

// Decide is one pass of the coordinator: from the plan and the view, the
// next plan and any action. It advances every granted node that moved on
// (or failed, which pauses the plan), drains and uncordons the nodes that
// run a kubelet, then grants what the gates allow:
//   - every node not being upgraded is up and the health check has no
//     cluster-wide problem;
//   - control planes one at a time, never while a worker is being
//     upgraded (nor a worker while a control plane is), and only while
//     the healthy control planes left keep a majority without it;
//   - at most MaxUnavailable workers at once;
//   - in Order, by name; the Raft leader's node last, after
//     ActionTransferLeadership.
//
// A paused plan grants nothing, but its granted nodes still move on (a
// worker upgraded beside the one that failed is told to confirm once
// healthy, rather than left to fall back at its deadline); their failures
// join the reason.
//
// The plan is unchanged (equal) when nothing moved.
func Decide(p Plan, v View, now time.Time) (Plan, []Action) {
	if p.Phase != PhaseRunning && p.Phase != PhasePaused {
		return p, nil
	}
	next := p.Clone()
	now = now.UTC()
	var failures []string
	var actions []Action
	for _, name := range next.Names() {
		n := v.Nodes[name]
		if next.Steps[name].State == StateFailed && n.Kubelet && n.Cordoned {
			// It runs its old release again: schedulable, as before.
			actions = append(actions, Action{Kind: ActionUncordon, Node: name})
		}
		if !next.Steps[name].State.inProgress() {
			continue
		}
		reason, a := advance(next, name, n, now)
		if reason != "" {
			failures = append(failures, name+": "+reason)
		}
		if a != "" {
			actions = append(actions, Action{Kind: a, Node: name})
		}
	}
	if len(failures) > 0 {
		reason := strings.Join(failures, "; ")
		if next.Phase == PhasePaused && next.Reason != "" {
			reason = next.Reason + "; " + reason
		}
		next.Phase, next.Reason, next.Waiting = PhasePaused, reason, ""
		return next, actions
	}
	if next.Phase == PhasePaused {
		return next, actions
	}
	if next.Count(StateDone) == len(next.Steps) {
		next.Phase, next.Waiting = PhaseDone, ""
		return next, actions
	}
	waiting, granted := grant(next, v, now)
	next.Waiting = waiting
	return next, append(actions, granted...)
}

// advance moves a granted node's step on from what the view shows, and
// returns why it failed ("" when it did not) and what the leader is to do
// for it now ("" for nothing).
func advance(p Plan, name string, n NodeView, now time.Time) (string, ActionKind) {
	s := p.Steps[name]
	target := p.TargetOf(name)
	// Gossip carries the fallback's time in whole seconds.
	fellBack := !n.FallbackAt.IsZero() && !n.FallbackAt.Before(s.Since.Truncate(time.Second))
	fail := func(reason string) string {
		if fellBack && n.FallbackReason != "" {
			reason += " (boot stage: " + n.FallbackReason + ")"
		}
		s.State, s.Since, s.Reason, s.Confirm = StateFailed, now, reason, false
		return reason
	}
	switch s.State {
	case StateDraining:
		switch {
		case n.Drained:
			s.State, s.Since = StateInstalling, now
		case now.Sub(s.Since) > p.Timeouts.Install:
			reason := fmt.Sprintf("not drained within %s", p.Timeouts.Install)
			if n.DrainBlocked != "" {
				reason += ": " + n.DrainBlocked
			}
			return fail(reason), ""
		default:
			return "", ActionDrain
		}
	case StateInstalling:
		switch {
		case fellBack:
			return fail("fell back to its previous slot"), ""
		case n.Alive && n.Version == target:
			s.State, s.Since = StateVerifying, now
		case !n.Alive:
			s.State, s.Since = StateRebooting, now
		case now.Sub(s.Since) > p.Timeouts.Install:
			return fail(fmt.Sprintf("did not restart into %s within %s", target, p.Timeouts.Install)), ""
		}
	case StateRebooting:
		switch {
		case n.Alive && n.Version == target && !fellBack:
			s.State, s.Since = StateVerifying, now
		case n.Alive && n.Version != target:
			return fail(fmt.Sprintf("came back at %s, not %s", n.Version, target)), ""
		case now.Sub(s.Since) > p.Timeouts.Reboot:
			return fail(fmt.Sprintf("not back at %s within %s", target, p.Timeouts.Reboot)), ""
		}
	case StateVerifying:
		if n.Alive && n.Version != target {
			return fail(fmt.Sprintf("went back to %s", n.Version)), ""
		}
		if s.Confirm && n.Alive && !n.Trial {
			// Confirmed, after it was seen healthy (its kubelet Ready)
			// for Stabilize: schedulable again, then done.
			if n.Kubelet && n.Cordoned {
				return "", ActionUncordon
			}
			s.State, s.Since, s.Confirm = StateDone, now, false
			return "", ""
		}
		switch {
		case !n.up():
			s.HealthySince = time.Time{}
		case s.HealthySince.IsZero():
			s.HealthySince = now
		}
		if !s.HealthySince.IsZero() && now.Sub(s.HealthySince) >= p.Timeouts.Stabilize {
			s.Confirm = true
		}
		if now.Sub(s.Since) > p.Timeouts.Verify {
			return fail(fmt.Sprintf("not healthy and confirmed at %s within %s", target, p.Timeouts.Verify)), ""
		}
	}
	return "", ""
}

// grant grants what the gates allow and says what holds the rest back.
func grant(p Plan, v View, now time.Time) (string, []Action) {
	var cpBusy, workersBusy int
	for _, s := range p.Steps {
		if s.State.inProgress() {
			if s.Role == RoleControlPlane {
				cpBusy++
			} else {
				workersBusy++
			}
		}
	}
	if cpBusy > 0 {
		return "", nil // one control plane at a time, alone
	}
	for _, prob := range v.Problems {
		if prob != "" {
			return "cluster health: " + prob, nil
		}
	}
	var down []string
	for _, name := range p.Names() {
		if s := p.Steps[name]; !s.State.inProgress() && !v.Nodes[name].up() {
			down = append(down, name)
		}
	}
	if len(down) > 0 {
		return "waiting for " + strings.Join(down, ", ") + " to be up", nil
	}
	pending := pendingInOrder(p, v.Leader)
	if len(pending) == 0 {
		return "", nil
	}
	first := p.Steps[pending[0]]
	if first.Role == RoleWorker {
		granted := 0
		var actions []Action
		for _, name := range pending {
			if workersBusy+granted >= p.MaxUnavailable {
				break
			}
			if p.Steps[name].Role != RoleWorker {
				break
			}
			actions = append(actions, start(p, name, v.Nodes[name], now)...)
			granted++
		}
		if granted == 0 {
			return fmt.Sprintf("%d of at most %d workers being upgraded", workersBusy, p.MaxUnavailable), nil
		}
		return "", actions
	}
	if workersBusy > 0 {
		return "workers being upgraded: control planes wait", nil
	}
	name := pending[0]
	if !quorumWithout(p, v, name) {
		return fmt.Sprintf("control planes would lose their majority without %s", name), nil
	}
	if name == v.Leader {
		return "Raft leader " + name + " hands leadership over before its upgrade", []Action{{Kind: ActionTransferLeadership}}
	}
	return "", start(p, name, v.Nodes[name], now)
}

// pendingInOrder lists the pending nodes in the plan's order, the Raft
// leader's node last among its role.
func pendingInOrder(p Plan, leader string) []string {
	return slices.DeleteFunc(p.InOrder(leader), func(name string) bool { return p.Steps[name].State != StatePending })
}

// quorumWithout says whether the healthy control planes other than name
// are a majority of all control planes.
func quorumWithout(p Plan, v View, name string) bool {
	total, healthy := 0, 0
	for n, s := range p.Steps {
		if s.Role != RoleControlPlane {
			continue
		}
		total++
		if n != name && v.Nodes[n].up() {
			healthy++
		}
	}
	return total == 1 || healthy >= total/2+1
}

// start grants name its upgrade: draining first when it runs a kubelet
// (and the drain starts in the same pass), else installing.
func start(p Plan, name string, n NodeView, now time.Time) []Action {
	s := p.Steps[name]
	s.State, s.Since, s.Attempt = StateInstalling, now, s.Attempt+1
	s.Confirm, s.HealthySince, s.Reason = false, time.Time{}, ""
	if n.Kubelet {
		s.State = StateDraining
		return []Action{{Kind: ActionDrain, Node: name}}
	}
	return nil
}

// Pause stops a running plan where it is; reason says why (an operator's
// pause).
func Pause(p Plan, reason string) (Plan, error) {
	if p.Phase != PhaseRunning {
		return p, fmt.Errorf("%w: plan %s is %s", ErrPhase, p.ID, p.Phase)
	}
	next := p.Clone()
	next.Phase, next.Reason, next.Waiting = PhasePaused, reason, ""
	return next, nil
}

// Resume runs a paused plan again; failed nodes become pending, so they
// are tried once more — the only way a node that fell back is upgraded
// again by the same plan.
func Resume(p Plan) (Plan, error) {
	if p.Phase != PhasePaused {
		return p, fmt.Errorf("%w: plan %s is %s, not paused", ErrPhase, p.ID, p.Phase)
	}
	next := p.Clone()
	next.Phase, next.Reason = PhaseRunning, ""
	for _, s := range next.Steps {
		if s.State == StateFailed {
			s.State, s.Reason = StatePending, ""
		}
	}
	return next, nil
}

// Abort ends a plan where it is: nodes done stay on the target, nodes in
// the middle of a step finish or fall back on their own, nothing more is
// granted.
func Abort(p Plan, reason string) (Plan, error) {
	if p.Phase.Finished() {
		return p, fmt.Errorf("%w: plan %s is %s", ErrPhase, p.ID, p.Phase)
	}
	next := p.Clone()
	next.Phase, next.Reason, next.Waiting = PhaseAborted, reason, ""
	return next, nil
}
