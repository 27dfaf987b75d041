package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// TestEtcdCluster: three control planes make exactly one etcd cluster of
// three voters, decided through Raft (issue 12): every node reports the
// same cluster ID; a client with a certificate from the etcd CA reads and
// writes; plaintext, certificate-less and cluster-CA clients are refused;
// a killed etcd is restarted by the supervisor and rejoins; a whole-cluster
// SIGKILL comes back as the same etcd cluster with its data.
func TestEtcdCluster(t *testing.T) {
	c := createCluster(t, "etcd", 3, 1, "--timings", "fast")
	cps := []string{"cp1", "cp2", "cp3"}
	id := c.awaitEtcd(t, 90*time.Second, cps...)
	t.Logf("one etcd cluster %s with three voters", id)

	cli := c.etcdClient(t, c.etcdTLS(t), cps...)
	t.Run("MembersAndPutGet", func(t *testing.T) {
		ctx := ctxT(t, 10*time.Second)
		ml, err := cli.MemberList(ctx)
		require.NoError(t, err)
		var names []string
		for _, m := range ml.Members {
			names = append(names, m.Name)
			assert.False(t, m.IsLearner, "%s is a voter", m.Name)
		}
		assert.ElementsMatch(t, cps, names)
		assert.Equal(t, id, fmt.Sprintf("%x", ml.Header.ClusterId))
		_, err = cli.Put(ctx, "/cairn-test/k", "v1")
		require.NoError(t, err)
		got, err := cli.Get(ctx, "/cairn-test/k")
		require.NoError(t, err)
		require.Len(t, got.Kvs, 1)
		assert.Equal(t, "v1", string(got.Kvs[0].Value))

		// Members shows each node's etcd member, as gossip carries it.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			ms, err := c.client(c.node("cp1").APIAddress).Members(ctxT(t, 5*time.Second), connect.NewRequest(&clusterv1.MembersRequest{}))
			require.NoError(ct, err)
			for _, m := range ms.Msg.GetMembers() {
				want := "voter"
				if m.GetRole() == clusterv1.Role_ROLE_WORKER {
					want = ""
				}
				assert.Equal(ct, want, m.GetEtcd(), "%s's etcd in Members", m.GetName())
			}
		}, 30*time.Second, 200*time.Millisecond)
	})

	t.Run("RefusesClientsWithoutAnEtcdCertificate", func(t *testing.T) {
		noCert := c.etcdTLS(t)
		noCert.Certificates = nil
		clusterCA := c.etcdTLS(t) // trusts the etcd CA, presents a cluster-CA certificate
		clusterCA.Certificates = c.admin.tls.Certificates
		for name, conf := range map[string]*clientv3.Client{
			"plaintext":              c.etcdClient(t, nil, "cp1"),
			"no certificate":         c.etcdClient(t, noCert, "cp1"),
			"cluster CA, not etcd's": c.etcdClient(t, clusterCA, "cp1"),
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, err := conf.Get(ctx, "/cairn-test/k")
			cancel()
			assert.Error(t, err, "%s client was served", name)
		}
	})

	t.Run("ConfigChangeRestartsOneMemberAtATime", func(t *testing.T) {
		cur := c.getConfig(t, c.node("cp1").APIAddress, false)
		doc := mutate(t, cur.Config, func(m map[string]any) {
			m["cluster"].(map[string]any)["etcd"] = map[string]any{"extraArgs": map[string]any{"snapshot-count": "12345"}}
		})
		file := filepath.Join(t.TempDir(), "etcd-args.yaml")
		require.NoError(t, os.WriteFile(file, []byte(doc), 0o600))
		out, err := c.ctl("config", "apply", "-f", file)
		require.NoError(t, err, out)

		// Watch every member directly, ten times a second, until all three
		// run with the flag: a quorum answers throughout.
		leastUp, deadline := len(cps), time.Now().Add(90*time.Second)
		for {
			up, flagged := 0, 0
			for _, n := range cps {
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				if _, err := cli.Status(ctx, "https://"+hostOf(c.node(n).APIAddress)+":2379"); err == nil {
					up++
				}
				cancel()
				if pid := etcdPID(t, c.node(n)); pid != 0 && cmdlineHas(pid, "--snapshot-count=12345") {
					flagged++
				}
			}
			leastUp = min(leastUp, up)
			if flagged == len(cps) && up == len(cps) {
				break
			}
			require.True(t, time.Now().Before(deadline), "the change did not reach every member: %d of %d run it", flagged, len(cps))
			time.Sleep(100 * time.Millisecond) // the sampling period of the watch above
		}
		assert.GreaterOrEqual(t, leastUp, 2, "members restarted one at a time: a quorum answered throughout")
		assert.Equal(t, id, c.awaitEtcd(t, 60*time.Second, cps...))
	})

	t.Run("KilledEtcdIsRestarted", func(t *testing.T) {
		n := c.node("cp2")
		pid := etcdPID(t, n)
		require.NotZero(t, pid, "cp2 runs etcd")
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			now := etcdPID(t, n)
			assert.NotZero(ct, now)
			assert.NotEqual(ct, pid, now, "a new etcd")
		}, 30*time.Second, 100*time.Millisecond)
		assert.Equal(t, id, c.awaitEtcd(t, 60*time.Second, cps...), "it rejoined the same cluster")
	})

	t.Run("WholeClusterKilled", func(t *testing.T) {
		for _, n := range c.byRole("controlplane") {
			c.signal(t, n.Name, syscall.SIGKILL)
		}
		// The boot stages restart every cairnd; each etcd died with its
		// cairnd (the parent-death signal), so the new ones start cleanly.
		c.awaitRunning(t)
		assert.Equal(t, id, c.awaitEtcd(t, 90*time.Second, cps...), "the same etcd cluster came back")
		cli := c.etcdClient(t, c.etcdTLS(t), cps...)
		got, err := cli.Get(ctxT(t, 10*time.Second), "/cairn-test/k")
		require.NoError(t, err)
		require.Len(t, got.Kvs, 1, "the data survived")
		assert.Equal(t, "v1", string(got.Kvs[0].Value))
	})

	t.Run("OneKilledPastTheGraceRejoinsAsANewMember", func(t *testing.T) {
		before := memberIDs(t, cli)
		c.refresh() // the PIDs of now
		n := c.node("cp3")
		require.NoError(t, syscall.Kill(n.BootPID, syscall.SIGKILL))
		require.NoError(t, syscall.Kill(n.PID, syscall.SIGKILL))
		// Dead past the grace with a quorum left: the leader removes it.
		others := c.etcdClient(t, c.etcdTLS(t), "cp1", "cp2")
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			ids := memberIDs(t, others)
			assert.NotContains(ct, ids, "cp3", "cp3's member removed")
			assert.Len(ct, ids, 2)
		}, 60*time.Second, 200*time.Millisecond)
		out, err := c.ctl("cluster", "start", "cp3", "--name", c.name, "--wait")
		require.NoError(t, err, out)
		assert.Equal(t, id, c.awaitEtcd(t, 90*time.Second, cps...), "back to three voters of the same cluster")
		after := memberIDs(t, others)
		assert.NotEqual(t, before["cp3"], after["cp3"], "cp3 is a new member")
		assert.Equal(t, before["cp1"], after["cp1"])
		aside, err := filepath.Glob(filepath.Join(n.StateDir, "etcd", "data.removed-*"))
		require.NoError(t, err)
		assert.Len(t, aside, 1, "the removed member's data is kept beside, not reused")
	})

	t.Run("TwoOfThreeKilledIsUnhealthyNotRemoved", func(t *testing.T) {
		before := memberIDs(t, c.etcdClient(t, c.etcdTLS(t), cps...))
		// Killed, not stopped: the boot stage and cairnd with SIGKILL (etcd
		// dies with its cairnd), so nothing leaves gossip or etcd politely.
		c.refresh() // the PIDs of now
		for _, n := range []string{"cp2", "cp3"} {
			st := c.node(n)
			require.NoError(t, syscall.Kill(st.BootPID, syscall.SIGKILL))
			require.NoError(t, syscall.Kill(st.PID, syscall.SIGKILL))
		}
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			c.refresh()
			for _, n := range []string{"cp2", "cp3"} {
				assert.False(ct, c.node(n).Running, "%s is down", n)
			}
		}, 30*time.Second, 100*time.Millisecond)
		cp1 := c.node("cp1")
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			st, err := c.etcdStatusOf(cp1.APIAddress)
			require.NoError(ct, err)
			assert.False(ct, st.Healthy)
			assert.Contains(ct, st.Reason, "no leader")
		}, 30*time.Second, 200*time.Millisecond)
		// Down for several times the fast timings' grace for dead members
		// (2 s): the scenario is an outage longer than the grace, so the
		// wait is the test, not a settling delay.
		time.Sleep(3 * fastDeadGrace)
		out, err := c.ctl("cluster", "start", "cp2", "cp3", "--name", c.name, "--wait")
		require.NoError(t, err, out)
		assert.Equal(t, id, c.awaitEtcd(t, 90*time.Second, cps...), "the same cluster healed")
		assert.Equal(t, before, memberIDs(t, c.etcdClient(t, c.etcdTLS(t), cps...)), "no member was removed or replaced")
	})
}

// cmdlineHas reports whether a process's command line has the argument.
func cmdlineHas(pid int, arg string) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && slices.Contains(strings.Split(string(raw), "\x00"), arg)
}

// fastDeadGrace is formation.TestProfile's grace for dead members, which
// --timings fast gives the nodes.
const fastDeadGrace = 2 * time.Second

// memberIDs lists the etcd member IDs by name.
func memberIDs(t testing.TB, cli *clientv3.Client) map[string]uint64 {
	t.Helper()
	var out map[string]uint64
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		ml, err := cli.MemberList(ctxT(t, 5*time.Second))
		require.NoError(ct, err)
		out = map[string]uint64{}
		for _, m := range ml.Members {
			out[m.Name] = m.ID
		}
	}, 30*time.Second, 200*time.Millisecond)
	return out
}
