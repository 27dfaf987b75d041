package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node"
	"github.com/cairn-project/cairn/node/cluster/etcdmembers"
)

// etcdRacesEnv sets how many cold boots TestEtcdBootstrapRaces makes (5
// when unset: one clean, one per bootstrap fault point).
const etcdRacesEnv = "CAIRN_ETCD_RACES"

// bootstrapFaults are the coordinator's fault points a cold boot of three
// control planes passes: the decision, and the intent, add and promotion
// of each of the two learners. "" is a boot with none armed.
var bootstrapFaults = []string{
	"",
	etcdmembers.FaultAfterDecide,
	etcdmembers.FaultAfterIntent,
	etcdmembers.FaultAfterMemberAdd,
	etcdmembers.FaultAfterPromote,
}

// TestEtcdBootstrapRaces: three control planes started at the same moment,
// with shrunk timings, make exactly one etcd cluster of three voters, also
// when the Raft leader is SIGKILLed at a fault point of the bootstrap
// (issue 12, "Never two etcd clusters"). The point is armed on every node
// (CAIRN_ETCD_FAULT in the environment of all boot stages), since which
// node leads is not known in advance; it fires once per state directory,
// so a later leader reaching the same point (the next learner's intent,
// add or promotion) is killed there too. After-decide is reached once per
// cluster, so exactly one node fires it; the others fire on one node or
// more. Every boot must end with one etcd cluster ID on all three, each
// node that fired restarted by its boot stage.
func TestEtcdBootstrapRaces(t *testing.T) {
	boots := len(bootstrapFaults)
	if v := os.Getenv(etcdRacesEnv); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, etcdRacesEnv)
		boots = n
	}
	cps := []string{"cp1", "cp2", "cp3"}
	var times []time.Duration
	fired := map[string][]int{} // fault point -> nodes that fired it, per boot
	for i := range boots {
		point := bootstrapFaults[i%len(bootstrapFaults)]
		label := point
		if label == "" {
			label = "no-fault"
		}
		t.Run(fmt.Sprintf("%02d-%s", i+1, label), func(t *testing.T) {
			var env []string
			if point != "" {
				env = []string{node.EtcdFaultEnv + "=" + point}
			}
			start := time.Now()
			c := createClusterEnv(t, env, point != "", fmt.Sprintf("race%d", i+1), 3, 0, "--timings", "fast")
			id := c.awaitEtcd(t, 120*time.Second, cps...)
			took := time.Since(start)
			times = append(times, took)
			t.Logf("boot %d (%s): one etcd cluster %s with three voters %s after create started",
				i+1, label, id, took.Round(time.Millisecond))
			if point == "" {
				for _, n := range cps {
					assert.Zero(t, c.node(n).Restarts, "%s: no cairnd crashed in a boot without faults", n)
				}
				return
			}
			c.refresh()
			var firedOn []string
			for _, n := range cps {
				ns := c.node(n)
				if _, err := os.Stat(filepath.Join(ns.StateDir, "etcd-fault-"+point+".fired")); err != nil {
					continue
				}
				firedOn = append(firedOn, n)
				assert.GreaterOrEqual(t, ns.Restarts, 1, "%s fired %s: its boot stage restarted it", n, point)
				log, err := os.ReadFile(ns.LogFile)
				require.NoError(t, err)
				assert.Regexp(t, `msg="etcd fault point reached: killing this process".* point=`+point, string(log), n)
				assert.Contains(t, string(log), "killed by signal killed", "%s: the boot stage saw its cairnd killed", n)
			}
			require.NotEmpty(t, firedOn, "%s fired on no node", point)
			if point == etcdmembers.FaultAfterDecide {
				assert.Len(t, firedOn, 1, "one decision, so one node reaches %s", point)
			}
			fired[point] = append(fired[point], len(firedOn))
			t.Logf("boot %d: %s fired on %s", i+1, point, strings.Join(firedOn, ", "))
			c.assertOneEtcdDataDir(t, cps)
		})
	}
	var total time.Duration
	for _, d := range times {
		total += d
	}
	if len(times) > 0 {
		t.Logf("%d boots, %d ended with one etcd cluster; mean %s per boot (create to three healthy voters); nodes fired per point: %v",
			boots, len(times), (total / time.Duration(len(times))).Round(time.Millisecond), fired)
	}
}

// assertOneEtcdDataDir checks that every node's etcd data directory
// belongs to the one cluster: each has a member directory (it started
// etcd), and none holds a second one.
func (c *localCluster) assertOneEtcdDataDir(t *testing.T, names []string) {
	t.Helper()
	for _, n := range names {
		assert.DirExists(t, filepath.Join(c.node(n).StateDir, "etcd", "data", "member"), n)
	}
}
