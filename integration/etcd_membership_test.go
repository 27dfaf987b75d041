package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEtcdMembershipFollowsTheConfig: a control plane added to the config
// joins etcd as a learner and is promoted to a voter of the same cluster;
// removed from the config, it leaves etcd, the member list shrinks back,
// and its cairnd stops as a removed node's does (issue 12, "Membership
// follows the cluster"). The time from its start to its promotion is
// logged (Talos's anchor: about 135 s per learner, siderolabs issue 14097,
// before its fix).
func TestEtcdMembershipFollowsTheConfig(t *testing.T) {
	c := createCluster(t, "etcdm", 3, 0, "--timings", "fast")
	cps := []string{"cp1", "cp2", "cp3"}
	id := c.awaitEtcd(t, 90*time.Second, cps...)
	before := memberIDs(t, c.etcdClient(t, c.etcdTLS(t), cps...))

	// cp4: cp3's entry with the next loopback address of the subnet.
	cp4Addr := fmt.Sprintf("127.0.%d.4", c.state.Subnet)
	addCP4 := func(m map[string]any) {
		nodes := m["nodes"].([]any)
		var cp3 map[string]any
		for _, n := range nodes {
			if n.(map[string]any)["name"] == "cp3" {
				cp3 = n.(map[string]any)
			}
		}
		require.NotNil(t, cp3)
		cp4 := map[string]any{}
		for k, v := range cp3 {
			cp4[k] = v
		}
		cp4["name"], cp4["match"] = "cp4", map[string]any{"name": "cp4"}
		for _, k := range []string{"apiAddress", "gossipAddress", "raftAddress"} {
			cp4[k] = regexp.MustCompile(`^127\.0\.\d+\.3:`).ReplaceAllString(cp3[k].(string), cp4Addr+":")
		}
		m["nodes"] = append(nodes, cp4)
	}
	full, err := os.ReadFile(filepath.Join(c.clusterDir(), "cluster.yaml"))
	require.NoError(t, err)
	dir := t.TempDir()
	withCP4 := filepath.Join(dir, "cluster-cp4.yaml") // secrets included: cp4's own config
	require.NoError(t, os.WriteFile(withCP4, []byte(mutate(t, string(full), addCP4)), 0o600))
	cur := c.getConfig(t, c.node("cp1").APIAddress, false)
	apply := filepath.Join(dir, "apply-cp4.yaml")
	require.NoError(t, os.WriteFile(apply, []byte(mutate(t, cur.Config, addCP4)), 0o600))
	out, err := c.ctl("config", "apply", "-f", apply)
	require.NoError(t, err, out)

	cp4 := nodeState{
		Name: "cp4", Role: "controlplane", APIAddress: cp4Addr + ":6440",
		StateDir: filepath.Join(c.clusterDir(), "nodes", "cp4"),
		LogFile:  filepath.Join(c.clusterDir(), "logs", "cp4.log"),
	}
	c.state.Nodes = append(c.state.Nodes, cp4) // for awaitEtcd; a refresh drops it
	started := time.Now()
	hand := startByHandWith(t, withCP4, cp4)

	// Watch cp4's own EtcdStatus until it is a voter: a learner first.
	var learnerAt, promotedAt time.Duration
	var last etcdStatus
	deadline := time.Now().Add(120 * time.Second)
	for promotedAt == 0 {
		require.True(t, time.Now().Before(deadline), "cp4 was not promoted in 120 s; last status %+v", last)
		select {
		case <-hand.done:
			t.Fatalf("cp4's cairnd exited: see %s", cp4.LogFile)
		case <-time.After(50 * time.Millisecond): // the poll interval
		}
		st, err := c.etcdStatusOf(cp4.APIAddress)
		if err != nil {
			continue
		}
		last = st
		switch {
		case st.Learner && learnerAt == 0:
			learnerAt = time.Since(started)
			t.Logf("cp4 is an etcd learner %s after its cairnd started (member %s)", learnerAt.Round(time.Millisecond), st.MemberID)
		case !st.Learner && st.Healthy && st.Members == 4 && st.MemberID != "":
			promotedAt = time.Since(started)
		}
	}
	t.Logf("cp4 promoted to a voter %s after its cairnd started (learner observed at %s; Talos anchor ~135 s per learner)",
		promotedAt.Round(time.Millisecond), learnerAt.Round(time.Millisecond))
	assert.Equal(t, id, c.awaitEtcd(t, 60*time.Second, "cp1", "cp2", "cp3", "cp4"), "the same etcd cluster, four voters")
	leaderLogs := ""
	for _, n := range cps {
		raw, err := os.ReadFile(c.node(n).LogFile)
		require.NoError(t, err)
		leaderLogs += string(raw)
	}
	// Whether or not a poll caught it, the leader added it as a learner
	// and promoted it (and never added it as a voter).
	assert.Regexp(t, `msg="etcd learner added".* member=cp4 `, leaderLogs)
	assert.Regexp(t, `msg="etcd learner promoted".* member=cp4 `, leaderLogs)
	after := memberIDs(t, c.etcdClient(t, c.etcdTLS(t), cps...))
	for _, n := range cps {
		assert.Equal(t, before[n], after[n], "%s is the same member", n)
	}
	require.NotZero(t, after["cp4"])

	// Removed from the config: it leaves etcd, and its cairnd stops.
	back := filepath.Join(dir, "without-cp4.yaml")
	require.NoError(t, os.WriteFile(back, []byte(cur.Config), 0o600))
	out, err = c.ctl("config", "apply", "-f", back)
	require.NoError(t, err, out)
	assert.Contains(t, out, "cp4")
	removed := time.Now()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		ids := memberIDs(t, c.etcdClient(t, c.etcdTLS(t), cps...))
		assert.Equal(ct, before, ids, "back to the three original members")
	}, 90*time.Second, 200*time.Millisecond)
	t.Logf("cp4 left etcd %s after the config without it was applied", time.Since(removed).Round(time.Millisecond))
	select {
	case <-hand.done:
	case <-time.After(60 * time.Second):
		t.Fatal("cp4's cairnd still runs after its removal from the config")
	}
	log, err := os.ReadFile(cp4.LogFile)
	require.NoError(t, err)
	assert.Contains(t, string(log), "this node was removed from the cluster", "cp4 says why it stopped")
	assert.Equal(t, id, c.awaitEtcd(t, 60*time.Second, cps...), "three voters of the same cluster")
}
