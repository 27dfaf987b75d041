package integration

import (
	"os"
	"path/filepath"
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

	started := time.Now()
	added := c.addControlPlane(t, "cp4", "fast")
	cp4, hand, cur := added.node, added.hand, added.without
	learnerAt, promotedAt := c.awaitPromoted(t, added, 4, started, 120*time.Second)
	t.Logf("cp4 promoted to a voter %s after its config entry was applied and its cairnd started (learner observed at %s; Talos anchor ~135 s per learner)",
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
	back := filepath.Join(t.TempDir(), "without-cp4.yaml")
	require.NoError(t, os.WriteFile(back, []byte(cur), 0o600))
	out, err := c.ctl("config", "apply", "-f", back)
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
