package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEtcdRefusesForeignData: a control plane whose etcd data directory
// holds another cluster's member does not start etcd, says why in its
// EtcdStatus, and leaves the data as it was; `cairnctl reset` is the way
// out, after which it joins its own cluster as a new member (issue 12,
// "An etcd data directory from another cluster").
func TestEtcdRefusesForeignData(t *testing.T) {
	a := createCluster(t, "fora", 3, 0, "--timings", "fast")
	cps := []string{"cp1", "cp2", "cp3"}
	idA := a.awaitEtcd(t, 90*time.Second, cps...)
	b := createCluster(t, "forb", 1, 0, "--timings", "fast")
	idB := b.awaitEtcd(t, 90*time.Second, "cp1")
	require.NotEqual(t, idA, idB)
	before := memberIDs(t, a.etcdClient(t, a.etcdTLS(t), cps...))

	out, err := b.ctl("cluster", "stop", "cp1", "--name", b.name)
	require.NoError(t, err, out)
	out, err = a.ctl("cluster", "stop", "cp3", "--name", a.name)
	require.NoError(t, err, out)
	bcp1, acp3 := b.node("cp1"), a.node("cp3")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Zero(ct, etcdPID(t, bcp1), "B's etcd stopped")
		assert.Zero(ct, etcdPID(t, acp3), "A's cp3 etcd stopped")
		a.refresh()
		assert.False(ct, a.node("cp3").Running, "A's cp3 cairnd stopped (its boot stage stays)")
	}, 30*time.Second, 100*time.Millisecond)

	data := filepath.Join(acp3.StateDir, "etcd", "data")
	require.NoError(t, os.RemoveAll(data))
	cp := exec.Command("cp", "-a", filepath.Join(bcp1.StateDir, "etcd", "data"), data)
	out2, err := cp.CombinedOutput()
	require.NoError(t, err, "%s", out2)
	hash := treeHash(t, data)

	out, err = a.ctl("cluster", "start", "cp3", "--name", a.name, "--wait")
	require.NoError(t, err, out)
	var st etcdStatus
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st, err = a.etcdStatusOf(acp3.APIAddress)
		require.NoError(ct, err)
		assert.Equal(ct, "refused", st.Phase)
	}, 60*time.Second, 200*time.Millisecond)
	t.Logf("cp3 refuses: %s", st.Reason)
	assert.Contains(t, st.Reason, "belongs to another etcd cluster")
	assert.Contains(t, st.Reason, "cairnctl reset")
	assert.False(t, st.Healthy)
	a.refresh()
	assert.Zero(t, etcdPID(t, a.node("cp3")), "no etcd runs on cp3's state")
	assert.Equal(t, hash, treeHash(t, data), "the foreign data is byte for byte as copied")
	// The other two still serve A's cluster.
	assert.Equal(t, idA, a.awaitEtcdOf(t, 60*time.Second, 2, "cp1", "cp2"))

	// The way out: a reset wipes cp3, which joins A as a new member.
	out, err = a.ctl("-n", "cp3", "reset", "--wait", "--wait-timeout", "90s")
	require.NoError(t, err, out)
	t.Logf("reset:\n%s", out)
	a.refresh()
	assert.Equal(t, idA, a.awaitEtcd(t, 120*time.Second, cps...), "three voters of A's cluster again")
	after := memberIDs(t, a.etcdClient(t, a.etcdTLS(t), cps...))
	assert.Equal(t, before["cp1"], after["cp1"])
	assert.Equal(t, before["cp2"], after["cp2"])
	assert.NotEqual(t, before["cp3"], after["cp3"], "cp3 is a new member")
}

// awaitEtcdOf is awaitEtcd for a subset of the members: every node named
// reports a healthy voter of one cluster that has at least members members.
func (c *localCluster) awaitEtcdOf(t testing.TB, timeout time.Duration, members int, names ...string) string {
	t.Helper()
	return c.awaitEtcdWhere(t, timeout, func(n int) bool { return n >= members }, names...)
}

// treeHash hashes every path, mode and file content under dir.
func treeHash(t testing.TB, dir string) string {
	t.Helper()
	h := sha256.New()
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h.Write([]byte(rel + "\x00" + info.Mode().String() + "\x00"))
		if d.Type().IsRegular() {
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(raw)
			n++
		}
		h.Write([]byte{0})
		return nil
	})
	require.NoError(t, err)
	require.NotZero(t, n, "no files under %s", dir)
	return hex.EncodeToString(h.Sum(nil))
}
