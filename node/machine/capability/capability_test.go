package capability

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModes(t *testing.T) {
	pid1, err := ForMode(ModePID1)
	require.NoError(t, err)
	for _, n := range All {
		assert.True(t, pid1.Has(n), "pid1 has %s", n)
	}

	proc, err := ForMode(ModeProcess)
	require.NoError(t, err)
	assert.False(t, proc.Has(KernelNetwork), "a process leaves the kernel's network alone")
	assert.True(t, proc.Has(BootSlots), "the boot stage switches slots in process mode")
	for _, st := range proc.Statuses() {
		if !st.Available {
			assert.NotEmpty(t, st.Reason, "%s says why it is missing", st.Name)
		}
	}

	ctr, err := ForMode(ModeContainer)
	require.NoError(t, err)
	assert.True(t, ctr.Has(KernelNetwork), "a container owns its network namespace")
	assert.False(t, ctr.Has(KernelModules))
	assert.False(t, ctr.Has(Mounts))
	assert.True(t, ctr.Has(Sysctls), "a container tries its namespaces' sysctls")
	assert.False(t, proc.Has(Sysctls), "a process never writes the host's sysctls")
	assert.Equal(t, "kernel modules belong to the host", ctr.Reason(KernelModules))
	assert.Empty(t, pid1.Reason(KernelModules), "no reason for a capability it has")

	_, err = ForMode("vm")
	require.ErrorContains(t, err, `unknown mode "vm"`)
}
