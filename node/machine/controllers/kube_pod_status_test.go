package controllers

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// findComponent picks the component's process by argv[0] and Cairn's
// settings in its environment, not another process of that name.
func TestFindComponent(t *testing.T) {
	proc := t.TempDir()
	add := func(pid, cmdline, environ string) {
		d := filepath.Join(proc, pid)
		require.NoError(t, os.Mkdir(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, "cmdline"), []byte(cmdline), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(d, "environ"), []byte(environ), 0o644))
	}
	add("7", "kube-scheduler\x00--v=2\x00", "PATH=/usr/local/bin\x00")                           // not ours
	add("9", "/usr/local/bin/kube-scheduler\x00--v=2\x00", "A=b\x00"+KubeSettingsEnv+"=abc\x00") // ours
	add("11", "kube-apiserver\x00", KubeSettingsEnv+"=abc\x00")
	require.NoError(t, os.WriteFile(filepath.Join(proc, "self"), nil, 0o644)) // not a PID
	assert.Equal(t, 9, findComponent(proc, "kube-scheduler"))
	assert.Equal(t, 11, findComponent(proc, "kube-apiserver"))
	assert.Zero(t, findComponent(proc, "kube-controller-manager"))
	assert.Zero(t, findComponent(filepath.Join(proc, "none"), "kube-apiserver"))
}
