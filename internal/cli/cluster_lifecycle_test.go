package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCmdlineRefersToMatchesWholePathsOnly(t *testing.T) {
	cmdline := func(args ...string) []byte {
		var b []byte
		for _, a := range args {
			b = append(append(b, a...), 0)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		cmdline []byte
		want    bool
	}{
		{"flag value", cmdline("cairnd", "--state-dir", "/c/nodes/cp1"), true},
		{"path below", cmdline("cairnd", "--config", "/c/nodes/cp1/x.yaml"), true},
		{"flag=value", cmdline("cairnd", "--state-dir=/c/nodes/cp1"), true},
		{"longer sibling", cmdline("cairnd", "--state-dir", "/c/nodes/cp10"), false},
		{"sibling then match", cmdline("cairnd", "--x=/c/nodes/cp10:/c/nodes/cp1"), false},
		{"inside another path", cmdline("cairnd", "/old/c/nodes/cp1"), false},
		{"unrelated", cmdline("sleep", "100"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, cmdlineRefersTo(tc.cmdline, "/c/nodes/cp1"))
		})
	}
}

func TestProcessesOfFindsAProcessStartedByHand(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs procfs")
	}
	cluster := filepath.Join(t.TempDir(), "c")
	dir := filepath.Join(cluster, "nodes", "cp1")
	cmd := blockedShell(t, dir)
	blockedShell(t, filepath.Join(cluster+"0", "nodes", "cp1")) // another cluster's

	assert.Equal(t, []osProcess{{pid: cmd.Process.Pid, ppid: os.Getpid()}}, processesOf(dir), "found, with this test as its parent")
	assert.Equal(t, []osProcess{{pid: cmd.Process.Pid, ppid: os.Getpid()}}, processesOf(cluster), "its cluster's directory finds it too")

	gone := terminateAll(t.Context(), []int{cmd.Process.Pid}, dir)
	assert.Equal(t, []int{cmd.Process.Pid}, gone)
}

func TestClusterLifecycleCommandsNameTheKnownNodes(t *testing.T) {
	isolateHome(t)
	root := t.TempDir()
	dir := filepath.Join(root, "demo")
	require.NoError(t, writeState(dir, &clusterState{Name: "demo", Subnet: 20, Nodes: []nodeState{
		{Name: "cp1", Role: "controlplane", StateDir: filepath.Join(dir, "nodes", "cp1")},
		{Name: "worker1", Role: "worker", StateDir: filepath.Join(dir, "nodes", "worker1")},
	}}))

	for _, action := range []string{"stop", "start", "restart"} {
		r := runCLI(t, "cluster", action, "cp1", "cp9", "--name", "demo", "--state", root)
		assert.Equal(t, 1, r.code, action)
		assert.Contains(t, r.stderr, `unknown node "cp9" in cluster "demo" (its nodes: cp1, worker1)`, action)
		assert.Empty(t, r.stdout, "%s acts on no node when one name is wrong", action)

		both := runCLI(t, "cluster", action, "cp1", "--all", "--name", "demo", "--state", root)
		assert.Equal(t, 1, both.code)
		assert.Contains(t, both.stderr, "invalid usage")
		neither := runCLI(t, "cluster", action, "--name", "demo", "--state", root)
		assert.Equal(t, 1, neither.code)
	}

	stop := runCLI(t, "cluster", "stop", "--all", "--name", "demo", "--state", root)
	require.Equal(t, 0, stop.code, stop.stderr)
	assert.Equal(t, "cp1: already down (no boot stage runs)\nworker1: already down (no boot stage runs)\n", stop.stdout)
}

// blockedShell starts a shell that has arg in its command line and waits
// on a read that never returns, until killed.
func blockedShell(t *testing.T, arg string) *exec.Cmd {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command("sh", "-c", "read x", "sh", arg)
	cmd.Stdin = r
	require.NoError(t, cmd.Start())
	_ = r.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = w.Close() })
	return cmd
}

// The services a node's cairnd runs (etcd) refer to its directory as well;
// they are not processes outside the boot stage.
func TestNodeServicesAreNotUnsupervised(t *testing.T) {
	ps := []osProcess{
		{pid: 10, ppid: 1, boot: true}, // the boot stage
		{pid: 11, ppid: 10},            // its cairnd
		{pid: 12, ppid: 11},            // etcd, cairnd's child
		{pid: 20, ppid: 1},             // a cairnd started by hand
		{pid: 21, ppid: 20},            // its etcd
		{pid: 30, ppid: 99},            // something else referring to the dir
	}
	var pids []int
	for _, p := range nodeServices(ps) {
		pids = append(pids, p.pid)
	}
	assert.Equal(t, []int{10, 11, 20, 30}, pids)
}
