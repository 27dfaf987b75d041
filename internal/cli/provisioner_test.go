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
