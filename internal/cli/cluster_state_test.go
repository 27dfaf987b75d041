package cli

import (
	"encoding/json"
	"github.com/cairn-project/cairn/internal/provision/qemu"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStateFileShapeAndRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := &clusterState{Name: "local", Provisioner: "process", Subnet: 12, Cairnd: "/bin/cairnd", ConfigFile: "/x/cluster.yaml", Timings: "fast",
		Nodes: []nodeState{{
			Name: "cp1", Role: "controlplane", APIAddress: "127.0.12.1:6440",
			LogFile: "/x/logs/cp1.log", StateDir: "/x/nodes/cp1",
		}}}

	require.NoError(t, writeState(dir, st))

	data, err := os.ReadFile(filepath.Join(dir, "state.json"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"local","provisioner":"process","subnet":12,"cairnd":"/bin/cairnd","configFile":"/x/cluster.yaml","timings":"fast",
		"nodes":[{"name":"cp1","role":"controlplane",
		"apiAddress":"127.0.12.1:6440","logFile":"/x/logs/cp1.log","stateDir":"/x/nodes/cp1"}]}`, string(data), "no PIDs: they are asked of the boot stages")
	back, err := readState(dir)
	require.NoError(t, err)
	assert.Equal(t, st, back)
}

func TestReadStateMissingIsClusterNotFound(t *testing.T) {
	_, err := readState(t.TempDir())
	require.ErrorIs(t, err, ErrClusterNotFound)
}

func TestUsedSubnetsReadsEveryCluster(t *testing.T) {
	root := t.TempDir()
	for name, subnet := range map[string]int{"a": 10, "b": 13} {
		require.NoError(t, writeState(filepath.Join(root, name), &clusterState{Name: name, Subnet: subnet}))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "junk"), 0o700))

	assert.Equal(t, map[int]bool{10: true, 13: true}, usedSubnets(root))
	assert.Empty(t, usedSubnets(filepath.Join(root, "missing")))
}

func TestPickSubnetSkipsReservedAndBusy(t *testing.T) {
	n, err := pickSubnet(map[int]bool{10: true}, func(n int) bool { return n != 11 })
	require.NoError(t, err)
	assert.Equal(t, 12, n)

	_, err = pickSubnet(nil, func(int) bool { return false })
	require.ErrorIs(t, err, ErrNoFreeSubnet)
}

func TestSubnetFreeSeesABoundPort(t *testing.T) {
	// 127.0.253.0/24 is outside the range cluster create picks from, so no
	// local cluster can be using it.
	require.True(t, subnetFree(253, 2))
	ln, err := net.Listen("tcp", "127.0.253.2:6442")
	require.NoError(t, err)
	defer ln.Close()
	assert.False(t, subnetFree(253, 2))
	assert.True(t, subnetFree(253, 1), "only the first nodes' addresses are probed")
}

func TestLastLines(t *testing.T) {
	assert.Equal(t, []string{"c", "d"}, lastLines([]byte("a\nb\nc\nd\n"), 2))
	assert.Equal(t, []string{"a"}, lastLines([]byte("a"), 5))
	assert.Nil(t, lastLines(nil, 5))
}

func TestClusterShowAndDestroyWithoutProcesses(t *testing.T) {
	home := isolateHome(t)
	root := t.TempDir()
	dir := filepath.Join(root, "demo")
	require.NoError(t, writeState(dir, &clusterState{Name: "demo", Subnet: 20, Nodes: []nodeState{
		{Name: "cp1", Role: "controlplane", APIAddress: "127.0.20.1:6440", StateDir: filepath.Join(dir, "nodes", "cp1")},
	}}))
	cfgPath := filepath.Join(home, ".cairn", "config")
	cc := &ClientConfig{}
	cc.Merge("other", Context{Endpoints: []string{"x:1"}}, false)
	cc.Merge("demo", Context{Endpoints: []string{"127.0.20.1:6440"}}, true)
	require.NoError(t, WriteClientConfig(cfgPath, cc))

	show := runCLI(t, "cluster", "show", "--name", "demo", "--state", root, "-o", "json")
	require.Equal(t, 0, show.code, show.stderr)
	var shown struct {
		Name  string `json:"name"`
		Nodes []struct {
			Name    string `json:"name"`
			Running bool   `json:"running"`
			State   string `json:"state"`
			PID     int    `json:"pid"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(show.stdout), &shown))
	assert.Equal(t, "demo", shown.Name)
	require.Len(t, shown.Nodes, 1)
	assert.False(t, shown.Nodes[0].Running)
	assert.Equal(t, "down", shown.Nodes[0].State)
	assert.Zero(t, shown.Nodes[0].PID)

	d := runCLI(t, "cluster", "destroy", "--name", "demo", "--state", root)
	require.Equal(t, 0, d.code, d.stderr)
	assert.NoDirExists(t, dir)
	back, err := ReadClientConfig(cfgPath)
	require.NoError(t, err)
	assert.Equal(t, []string{"other"}, back.contextNames())
	assert.Empty(t, back.Context)

	again := runCLI(t, "cluster", "destroy", "--name", "demo", "--state", root)
	assert.Equal(t, 1, again.code)
	assert.Contains(t, again.stderr, "cluster not found")
}

func TestClusterCreateRefusesAnExistingCluster(t *testing.T) {
	isolateHome(t)
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "local"), 0o700))
	fake := filepath.Join(t.TempDir(), "cairnd")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o700))

	r := runCLI(t, "cluster", "create", "--state", root, "--cairnd", fake)

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "cluster start --all --name local --state "+root)
	assert.Contains(t, r.stderr, "cluster restart --all")
	assert.Contains(t, r.stderr, "cluster destroy")
}

func TestClusterCreateStopsWaitingWhenANodeExits(t *testing.T) {
	isolateHome(t)
	root := t.TempDir()
	fake := filepath.Join(t.TempDir(), "cairnd")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\necho \"fake cairnd $*\"\necho boom >&2\nexit 1\n"), 0o700))

	r := runCLI(t, "cluster", "create", "--state", root, "--cairnd", fake, "--subnet", "252",
		"--controlplanes", "1", "--workers", "0", "--wait-timeout", "30s", "--kubernetes=false")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "node process exited: cp1")
	assert.Contains(t, r.stderr, "fake cairnd boot --config "+filepath.Join(root, "local", "cluster.yaml")+" --name cp1 --state-dir",
		"each node runs under its boot stage")
	assert.Contains(t, r.stderr, "boom")
	assert.Contains(t, r.stderr, "cluster destroy")
	st, err := readState(filepath.Join(root, "local"))
	require.NoError(t, err, "the state is left for debugging")
	assert.Equal(t, 252, st.Subnet)
	d := runCLI(t, "cluster", "destroy", "--state", root)
	assert.Equal(t, 0, d.code, d.stderr)
}

// Kubernetes in process mode runs from the links beside cairnd: without
// them create refuses up front, saying how to get them or go without.
func TestClusterCreateNeedsTheKubernetesBinaries(t *testing.T) {
	isolateHome(t)
	root := t.TempDir()
	dir := t.TempDir()
	fake := filepath.Join(dir, "cairnd")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\nexit 1\n"), 0o700))

	r := runCLI(t, "cluster", "create", "--state", root, "--cairnd", fake, "--subnet", "252")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "Kubernetes needs kube-apiserver beside cairnd")
	assert.Contains(t, r.stderr, "make kube")
	assert.Contains(t, r.stderr, "--kubernetes=false")
	assert.NoDirExists(t, filepath.Join(root, "local"), "nothing was made")

	// A Kubernetes VM boots the initramfs that ships it: without one,
	// create says which target builds it (on a host that can run VMs).
	kernel := filepath.Join(dir, "vmlinuz")
	require.NoError(t, os.WriteFile(kernel, []byte("bzImage"), 0o644))
	t.Chdir(dir) // no _out here
	r = runCLI(t, "cluster", "create", "--state", root, "--provisioner", "qemu", "--kernel", kernel, "--kubernetes")
	assert.Equal(t, 1, r.code)
	if err := qemu.Check(); err != nil {
		assert.Contains(t, r.stderr, err.Error())
	} else {
		assert.Contains(t, r.stderr, "no initramfs-kubernetes.cpio")
		assert.Contains(t, r.stderr, "make initramfs-kubernetes")
	}
	assert.NoDirExists(t, filepath.Join(root, "local"), "nothing was made")
}
