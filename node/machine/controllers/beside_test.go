package controllers

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This test process is not PID 1 and shares its namespaces with its
// parent (go test): the guards refuse what would be the host's. Only the
// checks run; nothing is written.
func TestGuardsBesideTheHost(t *testing.T) {
	require.True(t, sharedNamespace("uts"))
	require.True(t, sharedNamespace("net"))
	assert.ErrorIs(t, hostSysctl("kernel.pid_max"), ErrMachineSysctl, "the whole machine's")
	assert.ErrorIs(t, hostSysctl("vm.swappiness"), ErrMachineSysctl)
	assert.ErrorIs(t, hostSysctl("net.ipv4.ip_forward"), ErrSharedNetNS, "the host's network namespace")
}
