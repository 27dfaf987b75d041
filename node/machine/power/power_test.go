package power

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestTravelsAsAnError(t *testing.T) {
	err := fmt.Errorf("node stopped: %w", &Request{Action: Reboot, Reset: true, Reason: "admin via API"})
	r, ok := As(err)
	require.True(t, ok)
	assert.Equal(t, Reboot, r.Action)
	assert.Equal(t, "node stopped: reset and reboot requested: admin via API", err.Error())
	_, ok = As(fmt.Errorf("plain"))
	assert.False(t, ok)
	assert.Equal(t, ExitReboot, ExitCode(Reboot))
	assert.Equal(t, ExitPoweroff, ExitCode(Poweroff))
}
