package controllers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/runtime"
)

// The boot report becomes BootStatus with its failures counted, and
// StateDiskStatus with a refused disk's reason.
func TestBootStatusPublishesTheReport(t *testing.T) {
	st := runtime.NewState()
	start(t, st, &BootStatus{Report: BootReport{
		Boot: BootStatusSpec{Mode: "pid1", ConfigSource: "fwcfg", Stages: []BootStage{
			{Name: "mount /proc", State: StageOK},
			{Name: "module virtio_net", State: StageFailed, Error: "unknown module"},
		}},
		StateDisk: &StateDiskStatusSpec{State: "refused", Disk: "/dev/vda", Reason: "holds an xfs filesystem"},
	}})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		b, ok := specOf[BootStatusSpec](st, TypeBootStatus, IDMachine)
		require.True(ct, ok)
		assert.Equal(ct, 1, b.Failed)
		assert.Equal(ct, "fwcfg", b.ConfigSource)
		d, ok := specOf[StateDiskStatusSpec](st, TypeStateDiskStatus, IDVar)
		require.True(ct, ok)
		assert.Equal(ct, "refused", d.State)
		assert.Equal(ct, "holds an xfs filesystem", d.Reason)
	}, 5*time.Second, time.Millisecond)
}
