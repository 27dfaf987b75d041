package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewProvisionerNamesTheKinds(t *testing.T) {
	p, err := newProvisioner("", provisionerOptions{})
	require.NoError(t, err)
	assert.IsType(t, &processProvisioner{}, p, "a state.json without a provisioner is a process cluster")

	_, err = newProvisioner("vmware", provisionerOptions{})
	require.ErrorIs(t, err, ErrUsage)
	assert.ErrorContains(t, err, "process, docker, qemu")

	for _, name := range provisionerNames {
		if _, ok := provisioners[name]; !ok {
			_, err := newProvisioner(name, provisionerOptions{})
			assert.ErrorIs(t, err, ErrNotImplemented, name)
		}
	}
}

func TestClusterCreateRefusesAnUnknownProvisioner(t *testing.T) {
	isolateHome(t)
	root := t.TempDir()
	r := runCLI(t, "cluster", "create", "--provisioner", "vmware", "--state", root)
	assert.NotZero(t, r.code)
	assert.Contains(t, r.stderr, `--provisioner "vmware" is not one of process, docker, qemu`)
	assert.NoDirExists(t, root+"/local", "nothing is made")
}

func TestClusterCreateTakesKernelArgsForVMsOnly(t *testing.T) {
	isolateHome(t)
	root := t.TempDir()
	r := runCLI(t, "cluster", "create", "--kernel-args", "loglevel=7", "--state", root)
	assert.NotZero(t, r.code)
	assert.Contains(t, r.stderr, "--kernel-args is for --provisioner qemu only")
	assert.NoDirExists(t, root+"/local", "nothing is made")
}

// The extra kernel arguments are kept in state.json, so a VM that
// 'cluster start' boots again gets them too.
func TestQEMUClusterKeepsKernelArgs(t *testing.T) {
	st := &clusterState{Name: "reaper", Subnet: 42, KernelArgs: "cairn.testservice=orphans"}
	c := qemuCluster(st, "/s/reaper")
	assert.Contains(t, c.VM(c.Node("cp1", 1)).Cmdline, " cairn.testservice=orphans")
}
