package health

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
func healthyObservation() Observation {
	ms := []*clusterv1.Member{
		member("cp1", true, alive, 5, true),
		member("cp2", true, alive, 5, false),
		member("w1", false, alive, 5, false),
	}
	o := Observation{
		Expected: []string{"cp1", "cp2", "w1"}, ControlPlanes: []string{"cp1", "cp2"}, ConfigRevision: 5, Members: ms,
		Views:     map[string]Result[*clusterv1.MembersResponse]{},
		Consensus: map[string]Result[*clusterv1.ConsensusStatusResponse]{},
	}
	for _, m := range ms {
		o.Views[m.Name] = Result[*clusterv1.MembersResponse]{Val: &clusterv1.MembersResponse{Members: ms}}
	}
	for _, n := range []string{"cp1", "cp2"} {
		o.Consensus[n] = Result[*clusterv1.ConsensusStatusResponse]{Val: &clusterv1.ConsensusStatusResponse{NodeName: n, LeaderName: "cp1", Term: 2}}
	}
	o.Etcd = map[string]Result[*EtcdView]{}
	for _, n := range []string{"cp1", "cp2"} {
		o.Etcd[n] = Result[*EtcdView]{Val: &EtcdView{Phase: "member", Healthy: true, ClusterID: "c1", Members: 2, Generation: 1}}
	}
	o.Kubernetes = map[string]Result[*KubernetesView]{}
	for _, n := range []string{"cp1", "cp2"} {
		o.Kubernetes[n] = Result[*KubernetesView]{Val: &KubernetesView{Phase: "running", Healthy: true, Version: "1.37.2"}}
	}
	leader := o.Consensus["cp1"].Val
	leader.State = "Leader"
	leader.Servers = []*clusterv1.RaftServer{raftServer("cp1", voter, true), raftServer("cp2", voter, true)}
	return o
}

const (
	voter    = clusterv1.RaftSuffrage_RAFT_SUFFRAGE_VOTER
	nonvoter = clusterv1.RaftSuffrage_RAFT_SUFFRAGE_NONVOTER
)

func raftServer(name string, s clusterv1.RaftSuffrage, healthy bool) *clusterv1.RaftServer {
	return &clusterv1.RaftServer{Name: name, Suffrage: s, Healthy: healthy}
}

// leaderStatus returns the leader's own ConsensusStatus in o.
func leaderStatus(o *Observation) *clusterv1.ConsensusStatusResponse { return o.Consensus["cp1"].Val }

func TestHealthChecks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		breakIt   func(o *Observation)
		wantOK    [6]bool // nodes, leader, raft, etcd, kubernetes, config
		wantIn    string
		wantNodes []string
	}{
		{"healthy", func(*Observation) {}, [6]bool{true, true, true, true, true, true}, "cp1 leads term 2", nil},
		{"healthy etcd", func(*Observation) {}, [6]bool{true, true, true, true, true, true}, "2 voters of etcd cluster c1, all healthy (cp1, cp2)", nil},
		{"suspect member", func(o *Observation) { o.Members[2] = member("w1", false, suspect, 5, false) },
			[6]bool{false, true, true, true, true, true}, "w1 is suspect", []string{"w1"}},
		{"configured node never joined", func(o *Observation) { o.Expected = append(o.Expected, "w2") },
			[6]bool{false, true, true, true, true, true}, "w2 has not joined", []string{"w2"}},
		{"views disagree", func(o *Observation) {
			o.Views["w1"] = Result[*clusterv1.MembersResponse]{Val: &clusterv1.MembersResponse{Members: o.Members[:2]}}
		}, [6]bool{false, true, true, true, true, true}, "w1 does not see w1 alive", []string{"w1"}},
		{"node view unreachable", func(o *Observation) {
			o.Views["cp2"] = Result[*clusterv1.MembersResponse]{Err: errors.New("boom")}
		}, [6]bool{false, true, true, true, true, true}, "cp2: boom", []string{"cp2"}},
		{"no leader", func(o *Observation) {
			o.Members[0] = member("cp1", true, alive, 5, false)
			o.Consensus["cp1"] = Result[*clusterv1.ConsensusStatusResponse]{Val: &clusterv1.ConsensusStatusResponse{NodeName: "cp1"}}
			o.Consensus["cp2"] = Result[*clusterv1.ConsensusStatusResponse]{Val: &clusterv1.ConsensusStatusResponse{NodeName: "cp2"}}
		}, [6]bool{true, false, false, true, true, true}, "no leader; cp1 knows no leader; cp2 knows no leader", []string{"cp1", "cp2"}},
		{"two leaders", func(o *Observation) { o.Members[1] = member("cp2", true, alive, 5, true) },
			[6]bool{true, false, true, true, true, true}, "2 leaders: cp1, cp2", nil},
		{"control plane follows another leader", func(o *Observation) {
			o.Consensus["cp2"] = Result[*clusterv1.ConsensusStatusResponse]{Val: &clusterv1.ConsensusStatusResponse{LeaderName: "cp2"}}
		}, [6]bool{true, false, true, true, true, true}, "cp2 follows cp2, not cp1", []string{"cp2"}},
		{"fewer voters than control planes", func(o *Observation) {
			leaderStatus(o).Servers = leaderStatus(o).Servers[:1]
		}, [6]bool{true, true, false, true, true, true}, "1 voter; the configuration lists 2 control planes; cp2 is not a Raft member", []string{"cp2"}},
		{"non-voter", func(o *Observation) { leaderStatus(o).Servers[1].Suffrage = nonvoter },
			[6]bool{true, true, false, true, true, true}, "cp2 is a non-voter", []string{"cp2"}},
		{"failing voter", func(o *Observation) { leaderStatus(o).Servers[1].Healthy = false },
			[6]bool{true, true, false, true, true, true}, "voter cp2 is failing", []string{"cp2"}},
		{"voter not in the configuration", func(o *Observation) {
			leaderStatus(o).Servers = append(leaderStatus(o).Servers, raftServer("cp9", voter, true))
		}, [6]bool{true, true, false, true, true, true}, "voter cp9 is not in the configuration", []string{"cp9"}},
		{"etcd member unhealthy", func(o *Observation) {
			o.Etcd["cp2"].Val.Healthy, o.Etcd["cp2"].Val.Phase, o.Etcd["cp2"].Val.Reason = false, "refused", "data of another cluster"
		}, [6]bool{true, true, true, false, true, true}, "cp2: refused (data of another cluster)", []string{"cp2"}},
		{"etcd learner", func(o *Observation) { o.Etcd["cp2"].Val.Learner = true },
			[6]bool{true, true, true, false, true, true}, "cp2 is a learner, not yet promoted", []string{"cp2"}},
		{"two etcd clusters", func(o *Observation) { o.Etcd["cp2"].Val.ClusterID = "c2" },
			[6]bool{true, true, true, false, true, true}, "more than one etcd cluster: c1 (cp1), c2 (cp2)", nil},
		{"etcd members differ from the control planes", func(o *Observation) { o.Etcd["cp1"].Val.Members = 3 },
			[6]bool{true, true, true, false, true, true}, "cp1 sees 3 etcd members, the configuration has 2 control planes", []string{"cp1"}},
		{"etcd on one control plane only", func(o *Observation) { o.Etcd["cp2"] = Result[*EtcdView]{} },
			[6]bool{true, true, true, false, true, true}, "cp2 runs no etcd member", []string{"cp2"}},
		{"etcd status unreachable", func(o *Observation) { o.Etcd["cp2"] = Result[*EtcdView]{Err: errors.New("boom")} },
			[6]bool{true, true, true, false, true, true}, "cp2: boom", []string{"cp2"}},
		{"no etcd anywhere", func(o *Observation) { o.Etcd = map[string]Result[*EtcdView]{"cp1": {}, "cp2": {}} },
			[6]bool{true, true, true, true, true, true}, "no control plane runs etcd", nil},
		{"healthy kubernetes", func(*Observation) {}, [6]bool{true, true, true, true, true, true},
			"Kubernetes 1.37.2 control plane healthy on 2 nodes (cp1, cp2); no node runs kubelet", nil},
		{"every kubelet ready", func(o *Observation) {
			for _, m := range o.Members {
				m.Kubelet = "ready"
			}
		}, [6]bool{true, true, true, true, true, true}, "Kubernetes 1.37.2 control plane healthy on 2 nodes (cp1, cp2); 3 of 3 nodes Ready", nil},
		{"a kubelet not ready", func(o *Observation) {
			for _, m := range o.Members {
				m.Kubelet = "ready"
			}
			o.Members[2].Kubelet = "not-ready"
		}, [6]bool{true, true, true, true, false, true}, "w1: kubelet not-ready", []string{"w1"}},
		{"kubernetes component unhealthy", func(o *Observation) {
			o.Kubernetes["cp2"].Val.Healthy, o.Kubernetes["cp2"].Val.Reason = false, "kube-apiserver starting"
		}, [6]bool{true, true, true, true, false, true}, "cp2: running (kube-apiserver starting)", []string{"cp2"}},
		{"kubernetes waiting for etcd", func(o *Observation) {
			o.Kubernetes["cp1"].Val.Healthy, o.Kubernetes["cp1"].Val.Phase, o.Kubernetes["cp1"].Val.Reason = false, "waiting-for-etcd", "waiting for the local etcd member"
		}, [6]bool{true, true, true, true, false, true}, "cp1: waiting-for-etcd (waiting for the local etcd member)", []string{"cp1"}},
		{"kubernetes on one control plane only", func(o *Observation) { o.Kubernetes["cp2"] = Result[*KubernetesView]{} },
			[6]bool{true, true, true, true, false, true}, "cp2 runs no Kubernetes", []string{"cp2"}},
		{"kubernetes disabled", func(o *Observation) {
			for _, n := range []string{"cp1", "cp2"} {
				o.Kubernetes[n] = Result[*KubernetesView]{Val: &KubernetesView{Phase: "disabled", Healthy: true}}
			}
		}, [6]bool{true, true, true, true, true, true}, "Kubernetes is disabled (cluster.kubernetes.disabled)", nil},
		{"no kubernetes anywhere", func(o *Observation) { o.Kubernetes = map[string]Result[*KubernetesView]{"cp1": {}, "cp2": {}} },
			[6]bool{true, true, true, true, true, true}, "no control plane runs Kubernetes", nil},
		{"kubernetes status unreachable", func(o *Observation) { o.Kubernetes["cp1"] = Result[*KubernetesView]{Err: errors.New("boom")} },
			[6]bool{true, true, true, true, false, true}, "cp1: boom", []string{"cp1"}},
		{"config lag", func(o *Observation) { o.Members[2] = member("w1", false, alive, 4, false) },
			[6]bool{true, true, true, true, true, false}, "want revision 5; w1 applied revision 4", []string{"w1"}},
		{"config unreadable", func(o *Observation) { o.ConfigErr = errors.New("no leader") },
			[6]bool{true, true, true, true, true, false}, "cannot read the configuration: no leader", nil},
		{"members unreadable", func(o *Observation) { o.MembersErr = errors.New("down"); o.Etcd = nil },
			[6]bool{false, false, false, false, false, false}, "cannot list members: down", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := healthyObservation()
			tc.breakIt(&o)
			checks := Evaluate(o)
			var all string
			var nodes []string
			for i, c := range checks {
				assert.Equal(t, tc.wantOK[i], c.OK, "check %s: %s", c.Name, c.Detail)
				all += c.Detail + "\n"
				nodes = append(nodes, c.Nodes...)
			}
			assert.Contains(t, all, tc.wantIn)
			assert.Equal(t, tc.wantNodes, nodes)
			assert.Equal(t, tc.wantOK == [6]bool{true, true, true, true, true, true}, Healthy(checks))
		})
	}
}

// After the leader dies, gossip may still hold it alive for seconds: health
// says who leads now, with a quorum, and blames the dead voter.
func TestHealthAfterLeaderDied(t *testing.T) {
	ms := []*clusterv1.Member{
		member("cp1", true, alive, 5, false), member("cp2", true, alive, 5, true), member("cp3", true, alive, 5, false),
	}
	o := Observation{
		Expected: []string{"cp1", "cp2", "cp3"}, ControlPlanes: []string{"cp1", "cp2", "cp3"}, ConfigRevision: 5, Members: ms,
		Views: map[string]Result[*clusterv1.MembersResponse]{},
		Consensus: map[string]Result[*clusterv1.ConsensusStatusResponse]{
			"cp1": {Err: errors.New("proxy to node cp1: connection refused")},
			"cp2": {Val: &clusterv1.ConsensusStatusResponse{NodeName: "cp2", State: "Leader", LeaderName: "cp2", Term: 3,
				Servers: []*clusterv1.RaftServer{raftServer("cp1", voter, false), raftServer("cp2", voter, true), raftServer("cp3", voter, true)}}},
			"cp3": {Val: &clusterv1.ConsensusStatusResponse{NodeName: "cp3", State: "Follower", LeaderName: "cp2", Term: 3}},
		},
	}
	checks := Evaluate(o)
	leader, raft := checks[1], checks[2]
	assert.True(t, leader.OK, leader.Detail)
	assert.Contains(t, leader.Detail, "cp2 leads term 3 with a quorum: 2 of 3 voters follow it; no answer from cp1")
	assert.False(t, raft.OK)
	assert.Contains(t, raft.Detail, "voter cp1 is failing")
	assert.Equal(t, []string{"cp1"}, raft.Nodes)
	assert.False(t, Healthy(checks))
}

// Nodes removed from the configuration that have left are not the
// cluster's any more: health ignores them; one still alive is a problem.
func TestHealthIgnoresRemovedNodesThatLeft(t *testing.T) {
	o := healthyObservation()
	o.Members = append(o.Members,
		member("cp9", true, clusterv1.GossipState_GOSSIP_STATE_LEFT, 1, false),
		member("w9", false, clusterv1.GossipState_GOSSIP_STATE_LEFT, 1, false))
	o.Consensus["cp9"] = Result[*clusterv1.ConsensusStatusResponse]{Err: errors.New("connection refused")}
	checks := Evaluate(o)
	for _, c := range checks {
		assert.True(t, c.OK, "%s: %s", c.Name, c.Detail)
		assert.NotContains(t, c.Detail, "9")
	}
	o.Members[len(o.Members)-1] = member("w9", false, alive, 5, false)
	o.Views["w9"] = Result[*clusterv1.MembersResponse]{Val: &clusterv1.MembersResponse{Members: o.Members}}
	checks = Evaluate(o)
	assert.False(t, checks[0].OK)
	assert.Contains(t, checks[0].Detail, "w9 is not in the configuration but still a member")
}
