package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	etcdv1 "github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1/etcdv1connect"
	resourcev1 "github.com/cairn-project/cairn/proto/gen/cairn/resource/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/resource/v1/resourcev1connect"
)

// TestEtcdRecovery: with two of three members' etcd data destroyed, etcd
// has no quorum and the two refuse to start (voters without data); a
// recovery from a snapshot, decided through Raft (issue 12, "Disaster
// recovery"), brings back one new etcd cluster of three voters holding the
// snapshot's data. Recovering a healthy cluster without --force, from a
// file that is no snapshot, or from a stale generation is refused and
// changes nothing; --force replaces a working cluster.
func TestEtcdRecovery(t *testing.T) {
	c := createCluster(t, "etcdrec", 3, 0, "--timings", "fast")
	cps := []string{"cp1", "cp2", "cp3"}
	before := c.awaitEtcd(t, 90*time.Second, cps...)
	c.requireGeneration(t, 1, cps...)

	cli := c.etcdClient(t, c.etcdTLS(t), cps...)
	_, err := cli.Put(ctxT(t, 10*time.Second), "/recovery/a", "in the snapshot")
	require.NoError(t, err)
	snap := filepath.Join(t.TempDir(), "etcd.snapshot")
	out, err := c.ctl("etcd", "snapshot", snap)
	require.NoError(t, err, out)
	_, err = cli.Put(ctxT(t, 10*time.Second), "/recovery/b", "after the snapshot")
	require.NoError(t, err)

	t.Run("RefusedWhileEtcdHasAQuorum", func(t *testing.T) {
		out, err := c.ctl("etcd", "recover", "--from", snap, "--wait=false")
		require.Error(t, err, out)
		assert.Contains(t, out, "etcd still has a quorum")
		// The leader refuses too, for clients that skip cairnctl's check.
		data, err := os.ReadFile(snap)
		require.NoError(t, err)
		_, err = c.recoverOnLeader(t, data)
		assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "%v", err)
		assert.ErrorContains(t, err, "etcd still has a quorum")
		c.requireGeneration(t, 1, cps...)
		assert.Equal(t, before, c.awaitEtcd(t, 30*time.Second, cps...), "the cluster is untouched")
	})

	// Two members' disks are lost: their nodes come back without etcd
	// data, and voters without data refuse to start.
	out, err = c.ctl("cluster", "stop", "cp2", "cp3", "--name", c.name)
	require.NoError(t, err, out)
	for _, name := range []string{"cp2", "cp3"} {
		n := c.node(name)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Zero(ct, etcdPID(t, n), "%s's etcd stopped", name)
		}, 30*time.Second, 100*time.Millisecond)
		require.NoError(t, os.RemoveAll(filepath.Join(n.StateDir, "etcd", "data")))
	}
	out, err = c.ctl("cluster", "start", "cp2", "cp3", "--name", c.name, "--wait")
	require.NoError(t, err, out)
	c.refresh()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for _, name := range []string{"cp2", "cp3"} {
			st, err := c.etcdStatusOf(c.node(name).APIAddress)
			if assert.NoError(ct, err, name) {
				assert.Equal(ct, "refused", st.Phase, "%s: %s", name, st.Reason)
				assert.Contains(ct, st.Reason, "data is gone", name)
			}
		}
		st, err := c.etcdStatusOf(c.node("cp1").APIAddress)
		if assert.NoError(ct, err) {
			assert.False(ct, st.Healthy, "cp1 alone has no quorum: %s", st.Reason)
		}
	}, 60*time.Second, 200*time.Millisecond)

	// The Raft leader restores the snapshot: make it one of the nodes
	// whose data is gone (cp2 and cp3 have the Raft quorum while cp1
	// restarts), so the survivor's data is the one set aside. The forced
	// recovery below has the leader restore over data of its own.
	out, err = c.ctl("cluster", "restart", "cp1", "--name", c.name, "--wait")
	require.NoError(t, err, out)
	c.refresh()
	t.Logf("raft leader for the recovery: %s", c.raftLeader(t))

	t.Run("RefusesAFileThatIsNoSnapshot", func(t *testing.T) {
		garbage := filepath.Join(t.TempDir(), "garbage")
		require.NoError(t, os.WriteFile(garbage, []byte("this is not an etcd snapshot\n"), 0o600))
		out, err := c.ctl("etcd", "recover", "--from", garbage, "--wait=false")
		require.Error(t, err, out)
		assert.Contains(t, out, "not an etcd snapshot")
		assert.Contains(t, out, "invalid_argument")
		c.requireGeneration(t, 1, cps...)
	})

	t.Run("Recovers", func(t *testing.T) {
		out, err := c.ctl("etcd", "recover", "--from", snap, "--wait-timeout", "2m")
		require.NoError(t, err, out)
		assert.Contains(t, out, "generation 2")
		assert.Contains(t, out, "etcd recovered")
		t.Log(out)
		after := c.awaitEtcd(t, 60*time.Second, cps...)
		assert.NotEqual(t, before, after, "a new etcd cluster")
		c.requireGeneration(t, 2, cps...)

		cli := c.etcdClient(t, c.etcdTLS(t), cps...)
		a, err := cli.Get(ctxT(t, 10*time.Second), "/recovery/a")
		require.NoError(t, err)
		require.Len(t, a.Kvs, 1, "the snapshot's key is back")
		assert.Equal(t, "in the snapshot", string(a.Kvs[0].Value))
		b, err := cli.Get(ctxT(t, 10*time.Second), "/recovery/b")
		require.NoError(t, err)
		assert.Empty(t, b.Kvs, "a write after the snapshot is lost")
		assert.Len(t, memberIDs(t, cli), 3)
		before = after
	})

	t.Run("ForceReplacesAWorkingCluster", func(t *testing.T) {
		cli := c.etcdClient(t, c.etcdTLS(t), cps...)
		_, err := cli.Put(ctxT(t, 10*time.Second), "/recovery/c", "in the second snapshot")
		require.NoError(t, err)
		snap2 := filepath.Join(t.TempDir(), "etcd2.snapshot")
		out, err := c.ctl("etcd", "snapshot", snap2)
		require.NoError(t, err, out)
		_, err = cli.Put(ctxT(t, 10*time.Second), "/recovery/d", "after the second snapshot")
		require.NoError(t, err)
		t.Logf("raft leader for the forced recovery: %s", c.raftLeader(t))

		out, err = c.ctl("etcd", "recover", "--from", snap2, "--force", "--generation", "2", "--wait-timeout", "2m")
		require.NoError(t, err, out)
		assert.Contains(t, out, "generation 3")
		after := c.awaitEtcd(t, 60*time.Second, cps...)
		assert.NotEqual(t, before, after, "a new etcd cluster")
		c.requireGeneration(t, 3, cps...)
		cli = c.etcdClient(t, c.etcdTLS(t), cps...)
		for key, want := range map[string]bool{"/recovery/a": true, "/recovery/b": false, "/recovery/c": true, "/recovery/d": false} {
			got, err := cli.Get(ctxT(t, 10*time.Second), key)
			require.NoError(t, err)
			assert.Equal(t, want, len(got.Kvs) == 1, "%s present: %v", key, want)
		}

		out, err = c.ctl("etcd", "recover", "--from", snap2, "--force", "--generation", "2", "--wait=false")
		require.Error(t, err, out)
		assert.Contains(t, out, "aborted", "a stale --generation")
		c.requireGeneration(t, 3, cps...)
	})
}

// raftLeader is the Raft leader's name as cp1 knows it.
func (c *localCluster) raftLeader(t *testing.T) string {
	t.Helper()
	var leader string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st, err := c.client(c.node("cp1").APIAddress).ConsensusStatus(ctxT(t, 5*time.Second), connect.NewRequest(&clusterv1.ConsensusStatusRequest{}))
		if assert.NoError(ct, err) && assert.NotEmpty(ct, st.Msg.GetLeaderName()) {
			leader = st.Msg.GetLeaderName()
		}
	}, 30*time.Second, 200*time.Millisecond)
	return leader
}

// requireGeneration checks that every node named reports the etcd
// bootstrap generation gen in its EtcdStatus (the record it mirrors).
func (c *localCluster) requireGeneration(t *testing.T, gen uint64, names ...string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for _, n := range names {
			got, err := c.etcdGenerationOf(c.node(n).APIAddress)
			if assert.NoError(ct, err, n) {
				assert.Equal(ct, gen, got, "%s's generation", n)
			}
		}
	}, 30*time.Second, 200*time.Millisecond)
}

// etcdGenerationOf reads the generation in a node's EtcdStatus.
func (c *localCluster) etcdGenerationOf(addr string) (uint64, error) {
	rc := resourcev1connect.NewResourceServiceClient(c.admin.httpClient(), "https://"+addr, connect.WithGRPC())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := rc.Get(ctx, connect.NewRequest(&resourcev1.GetRequest{Type: "EtcdStatus", Id: "etcd"}))
	if err != nil {
		return 0, err
	}
	var st struct {
		Generation uint64 `json:"generation"`
	}
	err = yaml.Unmarshal([]byte(res.Msg.GetResource().GetSpecYaml()), &st)
	return st.Generation, err
}

// recoverOnLeader sends EtcdService.Recover, without force, straight to
// the Raft leader's API.
func (c *localCluster) recoverOnLeader(t *testing.T, data []byte) (*etcdv1.RecoverResponse, error) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	ec := etcdv1connect.NewEtcdServiceClient(c.admin.httpClient(), "https://"+c.node(c.raftLeader(t)).APIAddress, connect.WithGRPC())
	stream := ec.Recover(ctx)
	_ = stream.Send(&etcdv1.RecoverRequest{Start: &etcdv1.RecoverStart{}, Data: data}) // a refusal ends the call early
	res, err := stream.CloseAndReceive()
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}
