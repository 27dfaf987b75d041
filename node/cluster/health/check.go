package health

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// Check is the outcome of one health check.
type Check struct {
	// Name is a short label: nodes, leader, raft, etcd, kubernetes or config.
	Name string
	OK   bool
	// Detail says what passed, or every problem found.
	Detail string
	// Nodes are the nodes a failure implicates, sorted, for showing their
	// logs.
	Nodes []string
}

// CheckConfig names the config check: every node applied the current
// revision (a convergence check, which the upgrade's gates leave out).
const CheckConfig = "config"

// Evaluate runs the health checks on an observation, in their fixed order:
// nodes, leader, raft, etcd, kubernetes, config.
func Evaluate(o Observation) []Check {
	return []Check{checkNodes(o), checkLeader(o), checkRaft(o), checkEtcd(o), checkKubernetes(o), checkConfig(o)}
}

// Healthy reports whether every check passed.
func Healthy(checks []Check) bool {
	return !slices.ContainsFunc(checks, func(c Check) bool { return !c.OK })
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

func (p *problems) result(name, okDetail string) Check {
	if len(p.msgs) == 0 {
		return Check{Name: name, OK: true, Detail: okDetail}
	}
	return Check{Name: name, Detail: strings.Join(p.msgs, "; "), Nodes: slices.Sorted(maps.Keys(p.nodes))}
}

// checkNodes: every configured node is a member, every member is alive in
// gossip, and every alive member sees the same alive set.
func checkNodes(o Observation) Check {
	var p problems
	if o.MembersErr != nil {
		p.add("", "cannot list members: %s", ShortError(o.MembersErr))
		return p.result("nodes", "")
	}
	known := map[string]bool{}
	var alive []string
	for _, m := range o.Members {
		known[m.GetName()] = true
		isAlive := m.GetGossipState() == clusterv1.GossipState_GOSSIP_STATE_ALIVE
		switch {
		case !o.current(m):
			continue // removed from the configuration, and gone
		case !o.configured(m.GetName()):
			p.add(m.GetName(), "%s is not in the configuration but still a member", m.GetName())
		case !isAlive:
			p.add(m.GetName(), "%s is %s", m.GetName(), stateLabel(m.GetGossipState()))
			continue
		}
		alive = append(alive, m.GetName())
	}
	for _, n := range o.Expected {
		if !known[n] {
			p.add(n, "%s has not joined", n)
		}
	}
	slices.Sort(alive)
	for _, n := range alive {
		v, ok := o.Views[n]
		switch {
		case !ok:
			continue
		case v.Err != nil:
			p.add(n, "%s: %s", n, ShortError(v.Err))
		default:
			if d := setDiff(alive, aliveNames(v.Val.GetMembers())); d != "" {
				p.add(n, "%s %s", n, d)
			}
		}
	}
	return p.result("nodes", fmt.Sprintf("%d %s alive and in agreement (%s)",
		len(alive), plural(len(alive), "node", "nodes"), strings.Join(alive, ", ")))
}

// checkLeader: one leader, followed by every control plane that answers,
// and those that follow it are a quorum of the voters. A control plane that
// does not answer is named but does not fail this check while a quorum
// follows the leader (the raft check fails for it): after a leader dies,
// this says who leads now.
func checkLeader(o Observation) Check {
	var p problems
	if o.MembersErr != nil {
		p.add("", "cannot list members: %s", ShortError(o.MembersErr))
		return p.result("leader", "")
	}
	var flagged, cps []string
	for _, m := range o.Members {
		if m.GetLeader() {
			flagged = append(flagged, m.GetName())
		}
		if m.GetRole() == clusterv1.Role_ROLE_CONTROLPLANE && o.current(m) {
			cps = append(cps, m.GetName())
		}
	}
	if len(flagged) > 1 {
		p.add("", "%d leaders: %s", len(flagged), strings.Join(flagged, ", "))
	}
	leader, term := currentLeader(o, cps)
	if leader == "" && len(flagged) == 1 {
		leader = flagged[0]
	}
	if leader == "" {
		p.add("", "no leader")
	}
	var following, silent []string
	for _, n := range cps {
		r, ok := o.Consensus[n]
		switch {
		case !ok:
			continue
		case r.Err != nil:
			silent = append(silent, fmt.Sprintf("%s (%s)", n, ShortError(r.Err)))
		case r.Val.GetLeaderName() == "":
			p.add(n, "%s knows no leader", n)
		case leader != "" && r.Val.GetLeaderName() != leader:
			p.add(n, "%s follows %s, not %s", n, r.Val.GetLeaderName(), leader)
		default:
			following = append(following, n)
		}
	}
	if leader == "" {
		return p.result("leader", "")
	}
	voters := leaderVoters(o, leader)
	agree := 0
	for _, n := range following {
		if voters == nil || voters[n] {
			agree++
		}
	}
	summary := fmt.Sprintf("%s leads term %d; %d control %s", leader, term, len(following),
		plural(len(following), "plane agrees", "planes agree"))
	if voters != nil {
		if agree < len(voters)/2+1 {
			p.add("", "only %d of %d voters follow %s: no quorum", agree, len(voters), leader)
		}
		summary = fmt.Sprintf("%s leads term %d with a quorum: %d of %d voters follow it", leader, term, agree, len(voters))
	}
	if len(silent) > 0 {
		summary += "; no answer from " + strings.Join(silent, ", ")
	}
	if len(p.msgs) > 0 {
		p.msgs = append([]string{summary}, p.msgs...)
	}
	return p.result("leader", summary)
}

// currentLeader is the leader the answering control planes name in the
// highest term they report, preferring one that reports leading itself.
func currentLeader(o Observation, cps []string) (string, uint64) {
	var leader string
	var term uint64
	self := false
	for _, n := range cps {
		r, ok := o.Consensus[n]
		if !ok || r.Err != nil || r.Val.GetLeaderName() == "" {
			continue
		}
		v := r.Val
		isSelf := v.GetNodeName() == v.GetLeaderName() && v.GetState() == "Leader"
		if v.GetTerm() > term || (v.GetTerm() == term && isSelf && !self) || leader == "" {
			leader, term, self = v.GetLeaderName(), v.GetTerm(), isSelf
		}
	}
	return leader, term
}

// leaderVoters returns the voters in the leader's own Raft status, or nil
// when the leader did not answer.
func leaderVoters(o Observation, leader string) map[string]bool {
	r, ok := o.Consensus[leader]
	if !ok || r.Err != nil || r.Val.GetLeaderName() != leader {
		return nil
	}
	out := map[string]bool{}
	for _, sv := range r.Val.GetServers() {
		if sv.GetSuffrage() == clusterv1.RaftSuffrage_RAFT_SUFFRAGE_VOTER {
			out[sv.GetName()] = true
		}
	}
	return out
}

// checkRaft: in the leader's own view, every control plane of the
// configuration is a voter, every voter is healthy, and no other server is
// in the Raft configuration. Fewer voters than configured control planes is
// a failure even while a quorum holds: one more loss would end it.
func checkRaft(o Observation) Check {
	var p problems
	if o.MembersErr != nil {
		p.add("", "cannot list members: %s", ShortError(o.MembersErr))
		return p.result("raft", "")
	}
	leader, _ := currentLeader(o, controlPlaneMembers(o))
	r, ok := o.Consensus[leader]
	if leader == "" || !ok || r.Err != nil || r.Val.GetLeaderName() != leader {
		p.add("", "no leader answered; the voters cannot be checked")
		return p.result("raft", "")
	}
	var voters []string
	suffrage := map[string]clusterv1.RaftSuffrage{}
	for _, sv := range r.Val.GetServers() {
		name := sv.GetName()
		suffrage[name] = sv.GetSuffrage()
		switch {
		case sv.GetSuffrage() == clusterv1.RaftSuffrage_RAFT_SUFFRAGE_NONVOTER:
			p.add(name, "%s is a non-voter", name)
		case !sv.GetHealthy():
			p.add(name, "voter %s is failing%s", name, lastHeard(sv))
			voters = append(voters, name)
		default:
			voters = append(voters, name)
		}
	}
	slices.Sort(voters)
	if o.ControlPlanes != nil {
		for _, n := range o.ControlPlanes {
			if _, ok := suffrage[n]; !ok {
				p.add(n, "%s is not a Raft member", n)
			}
		}
		for _, v := range voters {
			if !slices.Contains(o.ControlPlanes, v) {
				p.add(v, "voter %s is not in the configuration", v)
			}
		}
		if len(voters) < len(o.ControlPlanes) {
			p.msgs = append([]string{fmt.Sprintf("%d %s; the configuration lists %d control planes",
				len(voters), plural(len(voters), "voter", "voters"), len(o.ControlPlanes))}, p.msgs...)
		}
	}
	return p.result("raft", fmt.Sprintf("%d %s, all healthy (%s)",
		len(voters), plural(len(voters), "voter", "voters"), strings.Join(voters, ", ")))
}

func controlPlaneMembers(o Observation) []string {
	var out []string
	for _, m := range o.Members {
		if m.GetRole() == clusterv1.Role_ROLE_CONTROLPLANE && o.current(m) {
			out = append(out, m.GetName())
		}
	}
	return out
}

// lastHeard says when the leader last heard from a failing server.
func lastHeard(sv *clusterv1.RaftServer) string {
	if sv.GetLastContact() == nil {
		return ""
	}
	age := time.Since(sv.GetLastContact().AsTime()).Round(time.Millisecond)
	return " (last heard " + age.String() + " ago)"
}

// checkConfig: every member has applied the current configuration
// revision.
func checkConfig(o Observation) Check {
	var p problems
	switch {
	case o.ConfigErr != nil:
		p.add("", "cannot read the configuration: %s", ShortError(o.ConfigErr))
	case o.MembersErr != nil:
		p.add("", "cannot list members: %s", ShortError(o.MembersErr))
	}
	if len(p.msgs) > 0 {
		return p.result(CheckConfig, "")
	}
	members := 0
	for _, m := range o.Members {
		if !o.current(m) {
			continue // removed from the configuration, and gone
		}
		members++
		if got := m.GetAppliedConfigRevision(); got != o.ConfigRevision {
			p.add(m.GetName(), "%s applied revision %d", m.GetName(), got)
		}
	}
	if len(p.msgs) > 0 {
		p.msgs = append([]string{fmt.Sprintf("want revision %d", o.ConfigRevision)}, p.msgs...)
	}
	return p.result(CheckConfig, fmt.Sprintf("all %d %s applied revision %d",
		members, plural(members, "node", "nodes"), o.ConfigRevision))
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

// stateLabel names a gossip state the way cairnctl prints it (suspect,
// dead, left).
func stateLabel(s clusterv1.GossipState) string {
	l := strings.ToLower(strings.TrimPrefix(s.String(), "GOSSIP_STATE_"))
	if l == "" || l == "unspecified" {
		return "not in gossip"
	}
	return l
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
