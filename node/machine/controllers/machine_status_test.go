package controllers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/runtime"
)

// Process mode reports every capability it lacks, with the reason, as a
// resource instead of a log line.
func TestMachineStatusReportsMissingCapabilities(t *testing.T) {
	caps, err := capability.ForMode(capability.ModeProcess)
	require.NoError(t, err)
	st := runtime.NewState()
	start(t, st, &MachineStatus{Capabilities: caps})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		s, ok := specOf[MachineStatusSpec](st, TypeMachineStatus, IDMachine)
		require.True(ct, ok)
		assert.Equal(ct, capability.ModeProcess, s.Mode)
		byName := map[capability.Name]capability.Status{}
		for _, c := range s.Capabilities {
			byName[c.Name] = c
		}
		assert.Len(ct, byName, len(capability.All))
		assert.False(ct, byName[capability.KernelNetwork].Available)
		assert.Contains(ct, byName[capability.KernelNetwork].Reason, "process mode")
		assert.True(ct, byName[capability.BootSlots].Available)
	}, 5*time.Second, time.Millisecond)
}
