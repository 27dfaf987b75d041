// Package upgrade is the cluster's rolling upgrade: one UpgradePlan record
// in Raft, and the pass the Raft leader runs over it. The plan holds the
// target (version and the artifact's sha256), the order, how many workers
// may be down at once, the per-step timeouts and each node's step; every
// change is a compare-and-set of the record, so a new leader after a
// failover continues the plan from the store and never redoes a node that
// is done. The pass (Decide) is level-triggered and pure: it reads the
// plan and a view of the cluster (gossip, the health check, the Raft
// leader) and returns the next plan, so every rule is a table test.
//
// A node's step: pending → draining (granted, when it runs a kubelet: its
// Node is cordoned and its pods evicted, PodDisruptionBudgets respected)
// → installing (the node fetches the
// artifact, writes its inactive boot slot and tries it) → rebooting (it
// left) → verifying (back at the target version, on trial) → done (seen
// healthy long enough, the node confirmed its slot). A node that fell back
// to its old slot, or missed a step's timeout, is failed; the plan then
// pauses with the reason and touches nothing else until an operator's
// resume, which alone lets a failed node be tried again.
package upgrade

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ResourceType is the Raft resource type of the plan; ResourceID its one
// record: one plan at a time, a finished one replaced by the next start.
const (
	ResourceType = "UpgradePlan"
	ResourceID   = "cluster"
)

// Roles of the nodes in a plan (the config's roles).
const (
	RoleControlPlane = "controlplane"
	RoleWorker       = "worker"
)

// Phase is the plan's state.
type Phase string

// The plan's phases.
const (
	// PhaseRunning: the leader moves the plan on.
	PhaseRunning Phase = "running"
	// PhasePaused: a node failed (Plan.Reason) or an operator paused; only
	// resume moves it on.
	PhasePaused Phase = "paused"
	// PhaseDone: every node is done.
	PhaseDone Phase = "done"
	// PhaseAborted: an operator stopped the plan where it was.
	PhaseAborted Phase = "aborted"
)

// Finished says whether a plan in phase p is over: a new one may start.
func (p Phase) Finished() bool { return p == PhaseDone || p == PhaseAborted }

// State is one node's step.
type State string

// A node's steps, in order, and its two ends.
const (
	StatePending    State = "pending"
	StateDraining   State = "draining"
	StateInstalling State = "installing"
	StateRebooting  State = "rebooting"
	StateVerifying  State = "verifying"
	StateDone       State = "done"
	StateFailed     State = "failed"
)

// inProgress: the node was granted the upgrade and is not done with it.
func (s State) inProgress() bool {
	return s == StateDraining || s == StateInstalling || s == StateRebooting || s == StateVerifying
}

// Order is which role goes first.
type Order string

// The orders.
const (
	OrderWorkersFirst       Order = "workers-first"
	OrderControlPlanesFirst Order = "control-planes-first"
)

// Target is what the plan upgrades to.
type Target struct {
	Version string `json:"version"`
	// Digest is the artifact's sha256 ("sha256:HEX"); nodes fetch it from
	// each other by digest and verify it before installing.
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Timeouts bound each step of a node; a step past its timeout fails the
// node and pauses the plan.
type Timeouts struct {
	// Install: granted → the node has left to restart into its new slot
	// (fetch, verify, write the slot), and, apart, draining → drained: a
	// drain that a PodDisruptionBudget holds up past it fails the node.
	Install time.Duration `json:"install"`
	// Reboot: left → back at the target version.
	Reboot time.Duration `json:"reboot"`
	// Verify: back → seen healthy for Stabilize and its slot confirmed.
	Verify time.Duration `json:"verify"`
	// Stabilize is how long a node back at the target version must be
	// seen healthy before it may confirm its slot.
	Stabilize time.Duration `json:"stabilize"`
}

// DefaultTimeouts are a plan's when the operator names none.
func DefaultTimeouts() Timeouts {
	return Timeouts{Install: 5 * time.Minute, Reboot: 5 * time.Minute, Verify: 5 * time.Minute, Stabilize: 5 * time.Second}
}

// Step is one node's part of the plan.
type Step struct {
	Role  string    `json:"role"`
	State State     `json:"state"`
	Since time.Time `json:"since"`
	// From is the version the node ran when the plan started.
	From string `json:"from"`
	// Attempt counts grants: a resume after a failure grants again.
	Attempt int `json:"attempt,omitempty"`
	// Confirm tells a verifying node it may confirm its slot.
	Confirm bool `json:"confirm,omitempty"`
	// HealthySince is when a verifying node was first seen healthy.
	HealthySince time.Time `json:"healthySince,omitzero"`
	// Reason says why the node failed.
	Reason string `json:"reason,omitempty"`
	// Target is the version this step ends at when it is not the plan's
	// (a rollback's: the version the node ran before).
	Target string `json:"target,omitempty"`
}

// Plan is the UpgradePlan record.
type Plan struct {
	ID             string           `json:"id"`
	Target         Target           `json:"target"`
	Order          Order            `json:"order"`
	MaxUnavailable int              `json:"maxUnavailable"`
	Timeouts       Timeouts         `json:"timeouts"`
	Phase          Phase            `json:"phase"`
	Reason         string           `json:"reason,omitempty"`
	Created        time.Time        `json:"created"`
	Steps          map[string]*Step `json:"steps"`
	// Rollback marks a plan that returns nodes to their previous slot
	// (Rollback): each step's Target is the version it ran before, and a
	// node rolls its boot slot back instead of installing anything.
	Rollback bool `json:"rollback,omitempty"`
	// Waiting says what holds the plan back now ("cluster not healthy"),
	// for status; "" when nothing does.
	Waiting string `json:"waiting,omitempty"`
	// Version is the stored version the plan was read at; not stored.
	Version uint64 `json:"-"`
}

// TargetOf is the version name's step ends at.
func (p Plan) TargetOf(name string) string {
	if s := p.Steps[name]; s != nil && s.Target != "" {
		return s.Target
	}
	return p.Target.Version
}

// Clone is a deep copy of p.
func (p Plan) Clone() Plan {
	out := p
	out.Steps = make(map[string]*Step, len(p.Steps))
	for name, s := range p.Steps {
		c := *s
		out.Steps[name] = &c
	}
	return out
}

// Names lists the plan's nodes in upgrade order: by Order, each role by
// name. (The Raft leader's own place is decided by the pass: last.)
func (p Plan) Names() []string {
	names := make([]string, 0, len(p.Steps))
	for n := range p.Steps {
		names = append(names, n)
	}
	first := RoleWorker
	if p.Order == OrderControlPlanesFirst {
		first = RoleControlPlane
	}
	slices.SortFunc(names, func(a, b string) int {
		ra, rb := p.Steps[a].Role == first, p.Steps[b].Role == first
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return strings.Compare(a, b)
	})
	return names
}

// InOrder lists the plan's nodes in the order the pass grants them:
// Names, with the Raft leader's node, while pending, moved last among its
// role (it is upgraded after it handed leadership over).
func (p Plan) InOrder(leader string) []string {
	out := p.Names()
	if i := slices.Index(out, leader); i >= 0 && p.Steps[leader].State == StatePending {
		role := p.Steps[leader].Role
		j := i
		for j+1 < len(out) && p.Steps[out[j+1]].Role == role {
			j++
		}
		out = slices.Insert(slices.Delete(out, i, i+1), j, leader)
	}
	return out
}

// Count returns how many steps are in state s.
func (p Plan) Count(s State) int {
	n := 0
	for _, st := range p.Steps {
		if st.State == s {
			n++
		}
	}
	return n
}

// Request is what an operator starts a plan with.
type Request struct {
	Target         Target
	Order          Order
	MaxUnavailable int
	Timeouts       Timeouts
	// AllowDowngrade lets the target be older than a node's version.
	AllowDowngrade bool
}

// Member is a node the plan is made for: its name, role and version now.
type Member struct {
	Name, Role, Version string
}

// NewPlan checks req against the members and makes the plan, every node
// pending. Every refusal names what to change; nothing is written.
func NewPlan(id string, req Request, members []Member, now time.Time) (Plan, error) {
	var bad []string
	if req.Target.Version == "" {
		bad = append(bad, "target version is empty")
	}
	if !validDigest(req.Target.Digest) {
		bad = append(bad, fmt.Sprintf("artifact digest %q is not sha256:<64 hex digits>", req.Target.Digest))
	}
	switch req.Order {
	case "":
		req.Order = OrderWorkersFirst
	case OrderWorkersFirst, OrderControlPlanesFirst:
	default:
		bad = append(bad, fmt.Sprintf("order %q is neither %s nor %s", req.Order, OrderWorkersFirst, OrderControlPlanesFirst))
	}
	workers := 0
	for _, m := range members {
		if m.Role == RoleWorker {
			workers++
		}
	}
	if req.MaxUnavailable == 0 {
		req.MaxUnavailable = 1
	}
	if req.MaxUnavailable < 1 {
		bad = append(bad, fmt.Sprintf("maxUnavailable %d is below 1", req.MaxUnavailable))
	} else if workers > 0 && req.MaxUnavailable >= workers && workers > 1 {
		bad = append(bad, fmt.Sprintf("maxUnavailable %d would take all %d workers down at once; at most %d", req.MaxUnavailable, workers, workers-1))
	}
	def := DefaultTimeouts()
	t := req.Timeouts
	for _, f := range []struct {
		v    *time.Duration
		d    time.Duration
		name string
	}{{&t.Install, def.Install, "install"}, {&t.Reboot, def.Reboot, "reboot"}, {&t.Verify, def.Verify, "verify"}, {&t.Stabilize, def.Stabilize, "stabilize"}} {
		switch {
		case *f.v == 0:
			*f.v = f.d
		case *f.v < 0:
			bad = append(bad, fmt.Sprintf("%s timeout %s is negative", f.name, *f.v))
		}
	}
	if len(members) == 0 {
		bad = append(bad, "the cluster has no members to upgrade")
	}
	steps := map[string]*Step{}
	for _, m := range members {
		if m.Role != RoleControlPlane && m.Role != RoleWorker {
			bad = append(bad, fmt.Sprintf("node %s has role %q", m.Name, m.Role))
			continue
		}
		if !req.AllowDowngrade && req.Target.Version != "" && CompareVersions(req.Target.Version, m.Version) < 0 {
			bad = append(bad, fmt.Sprintf("target %s is older than %s on %s (--allow-downgrade to go back)", req.Target.Version, m.Version, m.Name))
		}
		steps[m.Name] = &Step{Role: m.Role, State: StatePending, Since: now.UTC(), From: m.Version}
	}
	if len(bad) > 0 {
		return Plan{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(bad, "; "))
	}
	return Plan{
		ID: id, Target: req.Target, Order: req.Order, MaxUnavailable: req.MaxUnavailable, Timeouts: t,
		Phase: PhaseRunning, Created: now.UTC(), Steps: steps,
	}, nil
}

func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// Rollback makes the plan that returns the nodes p upgraded to the slot
// they ran before, through the same gates: every node that runs p's target
// now (versions, from gossip) and came from another version, each back to
// the version it came from. p must not be running (pause or abort it
// first): a rollback replaces it.
func Rollback(p Plan, versions map[string]string, now time.Time) (Plan, error) {
	if p.Phase == PhaseRunning {
		return Plan{}, fmt.Errorf("%w: plan %s is running: pause or abort it before rolling back", ErrPhase, p.ID)
	}
	if p.Rollback {
		return Plan{}, fmt.Errorf("%w: plan %s is a rollback already", ErrPhase, p.ID)
	}
	steps := map[string]*Step{}
	for name, s := range p.Steps {
		if v := versions[name]; v == p.Target.Version && s.From != p.Target.Version {
			steps[name] = &Step{Role: s.Role, State: StatePending, Since: now.UTC(), From: v, Target: s.From}
		}
	}
	if len(steps) == 0 {
		return Plan{}, fmt.Errorf("%w: no node of plan %s runs %s: nothing to roll back", ErrPhase, p.ID, p.Target.Version)
	}
	return Plan{
		ID: p.ID + "-rollback", Target: p.Target, Order: p.Order, MaxUnavailable: p.MaxUnavailable, Timeouts: p.Timeouts,
		Phase: PhaseRunning, Created: now.UTC(), Steps: steps, Rollback: true,
	}, nil
}
