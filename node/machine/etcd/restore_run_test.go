package etcd

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type recordingReaper struct{ started, released []int }

func (r *recordingReaper) Start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	r.started = append(r.started, cmd.Process.Pid)
	return nil
}

func (r *recordingReaper) Release(pid int) { r.released = append(r.released, pid) }

// The restore's process runs through PID 1's reaper when there is one
// (started by it, released after its exit status was taken), and plainly
// otherwise; its failure is its own.
func TestRestoreRunsThroughTheReaper(t *testing.T) {
	r := &recordingReaper{}
	require.NoError(t, run(exec.Command("true"), r))
	require.Len(t, r.started, 1)
	assert.Equal(t, r.started, r.released)
	err := run(exec.Command("false"), r)
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Len(t, r.released, 2)
	require.NoError(t, run(exec.Command("true"), nil))
}
