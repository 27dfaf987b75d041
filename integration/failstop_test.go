package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"sigs.k8s.io/yaml"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// TestStorageFaultStopsTheNode arms the consensus fault point "logwrite" in
// one control plane of a running 3-node cluster (CAIRN_FAULT, given to a
// new boot stage of that node only): after a few log writes, one fails.
// That cairnd must exit non-zero with the cause as its last log line, the
// other two must keep taking writes, and its boot stage must restart it
// into a consistent state: it rejoins, its data matches the others' and
// every acknowledged write is there (issue 10, "Fail-stop on storage
// faults").
func TestStorageFaultStopsTheNode(t *testing.T) {
	c := createCluster(t, "failstop", 3, 0, "--timings", "fast")
	const victim = "cp3"

	// A new boot stage for the victim, with the fault point in its
	// environment (and so in every cairnd it starts).
	old := c.node(victim)
	require.NoError(t, syscall.Kill(old.BootPID, syscall.SIGTERM))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		c.refresh()
		assert.Equal(ct, "down", c.node(victim).State)
	}, 30*time.Second, 100*time.Millisecond)
	out, err := c.ctlEnv([]string{"CAIRN_FAULT=logwrite-after:100"}, "cluster", "start", victim, "--name", c.name, "--wait")
	require.NoError(t, err, out)
	out, err = c.ctl("health", "--wait", "--wait-timeout", "60s")
	require.NoError(t, err, out)
	c.refresh()
	armed := c.node(victim)
	require.Greater(t, armed.PID, 1)
	// The point counts every log write since the store opened, catching
	// up included (etcd's membership records add writes of their own),
	// so it is armed past them: it must still be armed now.
	require.NoFileExists(t, filepath.Join(armed.StateDir, "raft", "fault-logwrite.fired"), "the fault fired while the node caught up")

	w := &ackedWriter{c: c, via: []nodeState{c.node("cp1"), c.node("cp2")}}
	w.init(t)
	for alive(armed.PID) {
		require.Less(t, w.n, 600, "the fault point never fired in %s", victim)
		w.write(t)
	}
	t.Logf("%s's cairnd (pid %d) exited after %d acknowledged writes", victim, armed.PID, w.n)
	for range 10 {
		w.write(t) // the other two keep taking writes
	}

	// Its boot stage restarts it; the fault fired once for its data
	// directory, so the new cairnd runs clean.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		c.refresh()
		now := c.node(victim)
		assert.Equal(ct, "running", now.State)
		assert.NotEqual(ct, armed.PID, now.PID)
		assert.Equal(ct, armed.BootPID, now.BootPID, "restarted by the same boot stage")
		assert.GreaterOrEqual(ct, now.Restarts, 1, "an exit after a storage fault is a crash")
	}, 60*time.Second, 100*time.Millisecond)
	assert.FileExists(t, filepath.Join(armed.StateDir, "raft", "fault-logwrite.fired"))

	out, err = c.ctl("health", "--wait", "--wait-timeout", "60s")
	require.NoError(t, err, "the restarted node rejoined:\n%s", out)
	// Read the log once the new cairnd has rejoined: by then it opened its
	// store and said that the fault point had fired before.
	checkFaultLog(t, armed.LogFile)
	for range 5 {
		w.write(t)
	}
	// Its replica matches the others' and holds the last acknowledged write
	// (each write compared-and-set on the one before, so all of them).
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for _, name := range []string{"cp1", "cp2", victim} {
			res, err := c.client(c.node(name).APIAddress).GetConfig(ctxT(t, 5*time.Second),
				connect.NewRequest(&clusterv1.GetConfigRequest{Stale: true}))
			require.NoError(ct, err, name)
			assert.Equal(ct, w.rev, res.Msg.Revision, "%s's replica is at the last acknowledged write", name)
			assert.Equal(ct, w.version, kubernetesVersion(t, res.Msg.Config), name)
		}
	}, 30*time.Second, 100*time.Millisecond)
	st, err := c.consensusStatus(c.node("cp1").APIAddress)
	require.NoError(t, err)
	for _, sv := range st.Servers {
		assert.Equal(t, clusterv1.RaftSuffrage_RAFT_SUFFRAGE_VOTER, sv.Suffrage, sv.Name)
	}
	assert.ElementsMatch(t, []string{"cp1", "cp2", "cp3"}, serverNames(st))
}

// checkFaultLog checks the node's log file (the boot stage's lines and its
// cairnd's, interleaved): the fault's cairnd ended with the cause, at
// error level; after it came only the boot stage's lines, which saw a
// non-zero exit, until it started the next cairnd.
func checkFaultLog(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	at := -1
	for i, l := range lines {
		if strings.Contains(l, `msg="stopping on a storage fault"`) {
			at = i
		}
	}
	require.GreaterOrEqual(t, at, 0, "the node logged why it stopped:\n%s", tail(lines, 40))
	t.Logf("around the faulted cairnd's last line:\n%s", strings.Join(lines[max(0, at-8):min(len(lines), at+4)], "\n"))
	last := lines[at]
	assert.Contains(t, last, "level=ERROR")
	assert.Contains(t, last, "fault point logwrite", "the error attribute names the cause")
	assert.Contains(t, last, "raft log write failed")
	exited := false
	for _, l := range lines[at+1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		require.Contains(t, l, "component=boot", "a line after the last of the faulted cairnd:\n%s", tail(lines[:min(len(lines), at+10)], 30))
		if strings.Contains(l, `msg="child exited"`) {
			assert.Contains(t, l, "exited with code 1")
			exited = true
		}
		if strings.Contains(l, `msg="child started"`) {
			break
		}
	}
	assert.True(t, exited, "the boot stage saw the exit")
	assert.Contains(t, strings.Join(lines[at:], "\n"), "fault point already fired in this data directory",
		"the restarted cairnd did not arm the fault again")
}

func tail(lines []string, n int) string {
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ackedWriter makes a chain of config writes through the given nodes,
// each a compare-and-set on the revision of the one before and retried
// with its request ID until acknowledged, so the last acknowledged write
// implies every earlier one.
type ackedWriter struct {
	c       *localCluster
	via     []nodeState
	n       int
	rev     uint64
	doc     string
	version string
}

func (w *ackedWriter) init(t *testing.T) {
	cur := w.c.getConfig(t, w.via[0].APIAddress, false)
	w.rev, w.doc = cur.Revision, cur.Config
}

func (w *ackedWriter) write(t *testing.T) {
	t.Helper()
	w.n++
	version := fmt.Sprintf("1.37.%d", 100+w.n)
	doc := withKubernetesVersion(t, w.doc, version)
	req := &clusterv1.ApplyConfigRequest{Config: doc, ExpectedRevision: w.rev, RequestId: fmt.Sprintf("failstop-%d", w.n)}
	attempt := 0
	var lastErr error
	acked := func() bool {
		via := w.via[(w.n+attempt)%len(w.via)]
		attempt++
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := w.c.client(via.APIAddress).ApplyConfig(ctx, connect.NewRequest(req))
		if err != nil {
			lastErr = err
			return false
		}
		w.rev, w.doc, w.version = res.Msg.Revision, doc, version
		return true
	}
	if !assert.Eventually(t, acked, 30*time.Second, 50*time.Millisecond) {
		t.Fatalf("write %d was never acknowledged: %v", w.n, lastErr)
	}
	require.NotEqual(t, connect.CodeAborted, connect.CodeOf(lastErr), "write %d conflicted with itself on a retry: %v", w.n, lastErr)
}

func withKubernetesVersion(t *testing.T, doc, version string) string {
	return mutate(t, doc, func(m map[string]any) {
		setKubernetesVersion(m, version)
	})
}

func kubernetesVersion(t *testing.T, doc string) string {
	var m struct {
		Cluster struct {
			Kubernetes struct {
				Version string `json:"version"`
			} `json:"kubernetes"`
		} `json:"cluster"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &m))
	return m.Cluster.Kubernetes.Version
}

// ctlEnv is ctl with extra environment variables, which a boot stage that
// cairnctl starts (and every cairnd it runs) inherits.
func (c *localCluster) ctlEnv(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	global := []string{"--cairnconfig", filepath.Join(c.dir, "cairnconfig")}
	if len(args) > 0 && args[0] == "cluster" {
		args = append(args, "--state", filepath.Join(c.dir, "clusters"))
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "cairnctl"), append(global, args...)...)
	cmd.Env = append(append(os.Environ(), "HOME="+c.dir), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}
