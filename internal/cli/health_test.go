package cli

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

const (
	alive   = clusterv1.GossipState_GOSSIP_STATE_ALIVE
	suspect = clusterv1.GossipState_GOSSIP_STATE_SUSPECT
)

func member(name string, cp bool, state clusterv1.GossipState, rev uint64, leader bool) *clusterv1.Member {
	role := clusterv1.Role_ROLE_WORKER
	if cp {
		role = clusterv1.Role_ROLE_CONTROLPLANE
	}
	return &clusterv1.Member{Name: name, Role: role, GossipState: state, AppliedConfigRevision: rev, Leader: leader}
}

// healthyObservation is a 2 control plane + 1 worker cluster where all is
// well; tests break one thing at a time.
func healthyObservation() observation {
	ms := []*clusterv1.Member{
		member("cp1", true, alive, 5, true),
		member("cp2", true, alive, 5, false),
		member("w1", false, alive, 5, false),
	}
	o := observation{
		expected: []string{"cp1", "cp2", "w1"}, configRev: 5, members: ms,
		views:     map[string]nodeResult[*clusterv1.MembersResponse]{},
		consensus: map[string]nodeResult[*clusterv1.ConsensusStatusResponse]{},
	}
	for _, m := range ms {
		o.views[m.Name] = nodeResult[*clusterv1.MembersResponse]{node: m.Name, val: &clusterv1.MembersResponse{Members: ms}}
	}
	for _, n := range []string{"cp1", "cp2"} {
		o.consensus[n] = nodeResult[*clusterv1.ConsensusStatusResponse]{node: n, val: &clusterv1.ConsensusStatusResponse{NodeName: n, LeaderName: "cp1", Term: 2}}
	}
	return o
}

func TestHealthChecks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		breakIt   func(o *observation)
		wantOK    [3]bool
		wantIn    string
		wantNodes []string
	}{
		{"healthy", func(*observation) {}, [3]bool{true, true, true}, "cp1 leads term 2", nil},
		{"suspect member", func(o *observation) { o.members[2] = member("w1", false, suspect, 5, false) },
			[3]bool{false, true, true}, "w1 is suspect", []string{"w1"}},
		{"configured node never joined", func(o *observation) { o.expected = append(o.expected, "w2") },
			[3]bool{false, true, true}, "w2 has not joined", []string{"w2"}},
		{"views disagree", func(o *observation) {
			o.views["w1"] = nodeResult[*clusterv1.MembersResponse]{node: "w1", val: &clusterv1.MembersResponse{Members: o.members[:2]}}
		}, [3]bool{false, true, true}, "w1 does not see w1 alive", []string{"w1"}},
		{"node view unreachable", func(o *observation) {
			o.views["cp2"] = nodeResult[*clusterv1.MembersResponse]{node: "cp2", err: errors.New("boom")}
		}, [3]bool{false, true, true}, "cp2: boom", []string{"cp2"}},
		{"no leader", func(o *observation) {
			o.members[0] = member("cp1", true, alive, 5, false)
			o.consensus["cp1"] = nodeResult[*clusterv1.ConsensusStatusResponse]{node: "cp1", val: &clusterv1.ConsensusStatusResponse{}}
		}, [3]bool{true, false, true}, "no leader; cp1 knows no leader", []string{"cp1"}},
		{"two leaders", func(o *observation) { o.members[1] = member("cp2", true, alive, 5, true) },
			[3]bool{true, false, true}, "2 leaders: cp1, cp2", nil},
		{"control plane follows another leader", func(o *observation) {
			o.consensus["cp2"] = nodeResult[*clusterv1.ConsensusStatusResponse]{node: "cp2", val: &clusterv1.ConsensusStatusResponse{LeaderName: "cp2"}}
		}, [3]bool{true, false, true}, "cp2 follows cp2, not cp1", []string{"cp2"}},
		{"config lag", func(o *observation) { o.members[2] = member("w1", false, alive, 4, false) },
			[3]bool{true, true, false}, "want revision 5; w1 applied revision 4", []string{"w1"}},
		{"config unreadable", func(o *observation) { o.configErr = errors.New("no leader") },
			[3]bool{true, true, false}, "cannot read the configuration: no leader", nil},
		{"members unreadable", func(o *observation) { o.membersErr = errors.New("down") },
			[3]bool{false, false, false}, "cannot list members: down", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := healthyObservation()
			tc.breakIt(&o)
			checks := evaluate(o)
			var all string
			var nodes []string
			for i, c := range checks {
				assert.Equal(t, tc.wantOK[i], c.ok, "check %s: %s", c.name, c.detail)
				all += c.detail + "\n"
				nodes = append(nodes, c.nodes...)
			}
			assert.Contains(t, all, tc.wantIn)
			assert.Equal(t, tc.wantNodes, nodes)
			assert.Equal(t, tc.wantOK == [3]bool{true, true, true}, healthy(checks))
		})
	}
}

func TestShortErrorKeepsTheLastEndpointsReason(t *testing.T) {
	err := &endpointsError{errs: []error{errors.New("a: refused"), errors.New("b: no leader")}}
	assert.Equal(t, "no endpoint answered (b: no leader)", shortError(err))
}
