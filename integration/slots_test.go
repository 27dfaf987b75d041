package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/boot"
)

// nodeSlot is the boot slot node reports through the API (Version).
func (c *localCluster) nodeSlot(t testing.TB, node string) (string, error) {
	out, err := c.ctl("-n", node, "version", "-o", "json")
	if err != nil {
		return "", err
	}
	var v struct {
		Nodes []struct {
			Slot string `json:"slot"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Nodes) != 1 {
		return "", err
	}
	return v.Nodes[0].Slot, nil
}

func bootDo(t testing.TB, dir string, req boot.Request) (boot.Status, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return boot.Do(ctx, dir, req)
}

// TestProcessNodeBootSlots drives a process-mode node's boot stage through
// its A/B slots with a real cairnd: a try of slot B (a copy of cairnd)
// restarts the node from it and the node reports slot B through the API;
// confirmed, B survives a restart; a slot B that exits at start (a
// truncated binary's stand-in: a file that is not a program) is abandoned
// for the confirmed slot by the boot stage alone, and the node is back
// and healthy.
func TestProcessNodeBootSlots(t *testing.T) {
	c := createCluster(t, "slots", 1, 1, "--timings", "fast")
	w := c.node("worker1")
	slot, err := c.nodeSlot(t, "worker1")
	require.NoError(t, err)
	assert.Equal(t, boot.SlotA, slot, "a node never upgraded runs slot A")

	data, err := os.ReadFile(filepath.Join(bin, "cairnd"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(boot.SlotDir(w.StateDir, boot.SlotB), 0o700))
	require.NoError(t, os.WriteFile(boot.SlotBinary(w.StateDir, boot.SlotB), data, 0o755))
	st, err := bootDo(t, w.StateDir, boot.Request{Op: boot.OpTry, Slot: boot.SlotB, ConfirmTimeout: 2 * time.Minute})
	require.NoError(t, err)
	assert.Equal(t, boot.SlotB, st.Slots.Trial)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		slot, err := c.nodeSlot(t, "worker1")
		require.NoError(ct, err)
		assert.Equal(ct, boot.SlotB, slot)
	}, time.Minute, 200*time.Millisecond, "worker1 runs slot B")
	_, err = bootDo(t, w.StateDir, boot.Request{Op: boot.OpConfirm, Slot: boot.SlotB})
	require.NoError(t, err)
	out, err := c.ctl("cluster", "restart", "worker1", "--wait", "--name", c.name)
	require.NoError(t, err, out)
	slot, err = c.nodeSlot(t, "worker1")
	require.NoError(t, err)
	assert.Equal(t, boot.SlotB, slot, "confirmed: a restart keeps slot B")

	// A release that cannot start, installed into slot A (the inactive one
	// now): its one try is spent, and the boot stage returns to B by
	// itself.
	require.NoError(t, os.MkdirAll(boot.SlotDir(w.StateDir, boot.SlotA), 0o700))
	require.NoError(t, os.WriteFile(boot.SlotBinary(w.StateDir, boot.SlotA), []byte("#!/nonexistent/interpreter\n"), 0o755))
	_, err = bootDo(t, w.StateDir, boot.Request{Op: boot.OpTry, Slot: boot.SlotA})
	require.Error(t, err, "the bad release does not start")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		st, err := bootDo(t, w.StateDir, boot.Request{Op: boot.OpStatus})
		require.NoError(ct, err)
		assert.Equal(ct, boot.StateRunning, st.State)
		assert.Equal(ct, boot.SlotB, st.Slots.Slot)
		if assert.NotNil(ct, st.Slots.Fallback) {
			assert.Equal(ct, boot.SlotA, st.Slots.Fallback.Slot)
		}
	}, time.Minute, 200*time.Millisecond, "back on slot B")
	out, err = c.ctl("health", "--wait", "--wait-timeout", "60s")
	require.NoError(t, err, "the cluster is healthy again:\n%s", out)
	slot, err = c.nodeSlot(t, "worker1")
	require.NoError(t, err)
	assert.Equal(t, boot.SlotB, slot)

	// The release as an artifact: uploaded through the endpoint to
	// worker1, kept there under its digest, listed; a second upload is a
	// hit.
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	out, err = c.ctl("-n", "worker1", "artifact", "upload", filepath.Join(bin, "cairnd"))
	require.NoError(t, err, out)
	assert.Contains(t, out, digest)
	assert.FileExists(t, filepath.Join(w.StateDir, "artifacts", "sha256-"+hex.EncodeToString(sum[:])))
	out, err = c.ctl("-n", "worker1", "artifact", "upload", filepath.Join(bin, "cairnd"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "already held")
	out, err = c.ctl("-n", "worker1", "artifact", "list", "-o", "json")
	require.NoError(t, err, out)
	var list struct {
		Artifacts []struct {
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		} `json:"artifacts"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list), out)
	require.Len(t, list.Artifacts, 1, out)
	assert.Equal(t, digest, list.Artifacts[0].Digest)
	assert.Equal(t, int64(len(data)), list.Artifacts[0].Size)
	out, err = c.ctl("-n", "cp1", "artifact", "list", "-o", "json")
	require.NoError(t, err, out)
	assert.NotContains(t, out, digest, "only worker1 holds it")
}
