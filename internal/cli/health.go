package cli

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"connectrpc.com/connect"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// check is the outcome of one health check.
type check struct {
	// name is a short label: nodes, leader or config.
	name string
	ok   bool
	// detail says what passed, or every problem found.
	detail string
	// nodes are the nodes a failure implicates, for showing their logs.
	nodes []string
}

// observation is everything one health round learned from the cluster.
type observation struct {
	// expected are the node names of the cluster configuration; nil when
	// the configuration could not be read.
	expected  []string
	configRev uint64
	configErr error

	members    []*clusterv1.Member
	membersErr error
	// views are each alive member's own membership view (stale Members).
	views map[string]nodeResult[*clusterv1.MembersResponse]
	// consensus are each control plane's ConsensusStatus.
	consensus map[string]nodeResult[*clusterv1.ConsensusStatusResponse]
}

// evaluate runs the three health checks on an observation.
func evaluate(o observation) []check {
	return []check{checkNodes(o), checkLeader(o), checkConfig(o)}
}

func healthy(checks []check) bool {
	return !slices.ContainsFunc(checks, func(c check) bool { return !c.ok })
}

// problems collects failure messages and the nodes they implicate.
type problems struct {
	msgs  []string
	nodes map[string]bool
}

func (p *problems) add(node, format string, args ...any) {
	p.msgs = append(p.msgs, fmt.Sprintf(format, args...))
	if node != "" {
		if p.nodes == nil {
			p.nodes = map[string]bool{}
		}
		p.nodes[node] = true
	}
}

func (p *problems) result(name, okDetail string) check {
	if len(p.msgs) == 0 {
		return check{name: name, ok: true, detail: okDetail}
	}
	return check{name: name, detail: strings.Join(p.msgs, "; "), nodes: slices.Sorted(maps.Keys(p.nodes))}
}

// checkNodes: every configured node is a member, every member is alive in
// gossip, and every alive member sees the same alive set.
func checkNodes(o observation) check {
	var p problems
	if o.membersErr != nil {
		p.add("", "cannot list members: %s", shortError(o.membersErr))
		return p.result("nodes", "")
	}
	known := map[string]bool{}
	var alive []string
	for _, m := range o.members {
		known[m.GetName()] = true
		if m.GetGossipState() == clusterv1.GossipState_GOSSIP_STATE_ALIVE {
			alive = append(alive, m.GetName())
			continue
		}
		p.add(m.GetName(), "%s is %s", m.GetName(), stateLabel(m.GetGossipState()))
	}
	for _, n := range o.expected {
		if !known[n] {
			p.add(n, "%s has not joined", n)
		}
	}
	slices.Sort(alive)
	for _, n := range alive {
		v, ok := o.views[n]
		switch {
		case !ok:
			continue
		case v.err != nil:
			p.add(n, "%s: %s", n, shortError(v.err))
		default:
			if d := setDiff(alive, aliveNames(v.val.GetMembers())); d != "" {
				p.add(n, "%s %s", n, d)
			}
		}
	}
	return p.result("nodes", fmt.Sprintf("%d %s alive and in agreement (%s)",
		len(alive), plural(len(alive), "node", "nodes"), strings.Join(alive, ", ")))
}

// checkLeader: exactly one member is the leader and every control plane
// follows that same leader.
func checkLeader(o observation) check {
	var p problems
	if o.membersErr != nil {
		p.add("", "cannot list members: %s", shortError(o.membersErr))
		return p.result("leader", "")
	}
	var leaders, cps []string
	for _, m := range o.members {
		if m.GetLeader() {
			leaders = append(leaders, m.GetName())
		}
		if m.GetRole() == clusterv1.Role_ROLE_CONTROLPLANE {
			cps = append(cps, m.GetName())
		}
	}
	switch len(leaders) {
	case 0:
		p.add("", "no leader")
	case 1:
	default:
		p.add("", "%d leaders: %s", len(leaders), strings.Join(leaders, ", "))
	}
	var term uint64
	for _, n := range cps {
		r, ok := o.consensus[n]
		switch {
		case !ok:
			continue
		case r.err != nil:
			p.add(n, "%s: %s", n, shortError(r.err))
		case r.val.GetLeaderName() == "":
			p.add(n, "%s knows no leader", n)
		case len(leaders) == 1 && r.val.GetLeaderName() != leaders[0]:
			p.add(n, "%s follows %s, not %s", n, r.val.GetLeaderName(), leaders[0])
		default:
			term = max(term, r.val.GetTerm())
		}
	}
	if len(leaders) != 1 {
		return p.result("leader", "")
	}
	return p.result("leader", fmt.Sprintf("%s leads term %d; %d control %s",
		leaders[0], term, len(cps), plural(len(cps), "plane agrees", "planes agree")))
}

// checkConfig: every member has applied the current configuration
// revision.
func checkConfig(o observation) check {
	var p problems
	switch {
	case o.configErr != nil:
		p.add("", "cannot read the configuration: %s", shortError(o.configErr))
	case o.membersErr != nil:
		p.add("", "cannot list members: %s", shortError(o.membersErr))
	}
	if len(p.msgs) > 0 {
		return p.result("config", "")
	}
	for _, m := range o.members {
		if got := m.GetAppliedConfigRevision(); got != o.configRev {
			p.add(m.GetName(), "%s applied revision %d", m.GetName(), got)
		}
	}
	if len(p.msgs) > 0 {
		p.msgs = append([]string{fmt.Sprintf("want revision %d", o.configRev)}, p.msgs...)
	}
	return p.result("config", fmt.Sprintf("all %d %s applied revision %d",
		len(o.members), plural(len(o.members), "node", "nodes"), o.configRev))
}

func aliveNames(ms []*clusterv1.Member) []string {
	var out []string
	for _, m := range ms {
		if m.GetGossipState() == clusterv1.GossipState_GOSSIP_STATE_ALIVE {
			out = append(out, m.GetName())
		}
	}
	slices.Sort(out)
	return out
}

// setDiff describes how a node's alive set differs from the reference, or
// returns "" if they are equal.
func setDiff(want, got []string) string {
	var missing, extra []string
	for _, n := range want {
		if !slices.Contains(got, n) {
			missing = append(missing, n)
		}
	}
	for _, n := range got {
		if !slices.Contains(want, n) {
			extra = append(extra, n)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "does not see "+strings.Join(missing, ", ")+" alive")
	}
	if len(extra) > 0 {
		parts = append(parts, "sees "+strings.Join(extra, ", ")+" alive")
	}
	return strings.Join(parts, " and ")
}

func stateLabel(s clusterv1.GossipState) string {
	if l := enumLabel(s.String(), "GOSSIP_STATE_"); l != "" {
		return l
	}
	return "not in gossip"
}

// shortError describes an API error in a few words for a check line: the
// message without the code prefix, and for "every endpoint failed" only the
// last endpoint's reason.
func shortError(err error) string {
	var ee *endpointsError
	if errors.As(err, &ee) && len(ee.errs) > 0 {
		return "no endpoint answered (" + shortError(ee.errs[len(ee.errs)-1]) + ")"
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}
