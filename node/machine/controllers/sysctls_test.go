package controllers

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/runtime"
)

// procSys lays out a /proc/sys stand-in with the given parameters, and
// kernel/ro, a link to the kernel's read-only kernel.ostype: it reads
// "Linux" and every write fails with EACCES, root's too.
func procSys(t *testing.T, params map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, v := range params {
		full := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(v+"\n"), 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "kernel"), 0o755))
	require.NoError(t, os.Symlink("/proc/sys/kernel/ostype", filepath.Join(root, "kernel", "ro")))
	return root
}

func readParam(t *testing.T, root, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
	require.NoError(t, err)
	return string(b)
}

func putSysctls(t *testing.T, st *runtime.State, kv map[string]string) uint64 {
	t.Helper()
	var v uint64
	for k, val := range kv {
		r, err := st.Put(runtime.Resource{Type: TypeSysctlSpec, ID: k, Spec: SysctlSpecSpec{Value: val}})
		require.NoError(t, err)
		v = r.Version
	}
	return v
}

func sysctlStatus(t require.TestingT, st *runtime.State, id string) SysctlStatusSpec {
	s, ok := specOf[SysctlStatusSpec](st, TypeSysctlStatus, id)
	require.True(t, ok, "status of %s", id)
	return s
}

// Each parameter is written and read back; a missing one and a failed
// write are statuses, not a failed pass; a changed spec is written again;
// a removed one loses its status.
func TestSysctlsApplyToTheRoot(t *testing.T) {
	caps, err := capability.ForMode(capability.ModePID1)
	require.NoError(t, err)
	root := procSys(t, map[string]string{
		"net/ipv4/ip_forward":               "0",
		"net/ipv4/tcp_rmem":                 "4096\t131072\t6291456",
		"net/ipv4/conf/eth0.100/forwarding": "0",
	})
	st := runtime.NewState()
	c := &Sysctls{Capabilities: caps, Root: root}
	rt := start(t, st, c)
	waitPass(t, rt, c.Name(), putSysctls(t, st, map[string]string{
		"net.ipv4.ip_forward":               "1",
		"net.ipv4.tcp_rmem":                 "4096 131072 6291456",
		"net.ipv4.conf.eth0/100.forwarding": "1",
		"net.ipv4.nope":                     "1",
		"kernel.ro":                         "Plan9",
	}))

	assert.Equal(t, SysctlStatusSpec{Desired: "1", Observed: "1", Applied: true}, sysctlStatus(t, st, "net.ipv4.ip_forward"))
	assert.Equal(t, "1\n", readParam(t, root, "net/ipv4/ip_forward"))
	assert.Equal(t, "1\n", readParam(t, root, "net/ipv4/conf/eth0.100/forwarding"), "a '/' in the name is a '.' in the path")
	rmem := sysctlStatus(t, st, "net.ipv4.tcp_rmem")
	assert.True(t, rmem.Applied, "tabs read back equal the spaces written")
	assert.Equal(t, "4096\t131072\t6291456\n", readParam(t, root, "net/ipv4/tcp_rmem"), "a value already held is not rewritten")

	assert.Equal(t, SysctlStatusSpec{Desired: "1", Error: "read net.ipv4.nope: no such parameter"}, sysctlStatus(t, st, "net.ipv4.nope"))
	_, err = os.Stat(filepath.Join(root, "net", "ipv4", "nope"))
	require.ErrorIs(t, err, os.ErrNotExist, "a missing parameter is never created")
	assert.Equal(t, SysctlStatusSpec{Desired: "Plan9", Observed: "Linux", Error: "write kernel.ro: permission denied"},
		sysctlStatus(t, st, "kernel.ro"), "a failed write")
	ps, _ := rt.PassStatus(c.Name())
	require.NoError(t, ps.Err, "bad parameters do not fail the pass")

	// A changed spec is applied again; a dropped one loses its status.
	require.NoError(t, st.Delete(TypeSysctlSpec, "net.ipv4.nope", ""))
	waitPass(t, rt, c.Name(), putSysctls(t, st, map[string]string{"net.ipv4.ip_forward": "0"}))
	assert.Equal(t, SysctlStatusSpec{Desired: "0", Observed: "0", Applied: true}, sysctlStatus(t, st, "net.ipv4.ip_forward"))
	assert.Equal(t, "0\n", readParam(t, root, "net/ipv4/ip_forward"))
	_, ok := specOf[SysctlStatusSpec](st, TypeSysctlStatus, "net.ipv4.nope")
	assert.False(t, ok, "the dropped spec's status is cleaned up")
}

// Process mode reads but never writes, and says why per parameter; a
// value the host already holds counts as applied, and a parameter the
// kernel lacks is named as such.
func TestSysctlsNeverWriteInProcessMode(t *testing.T) {
	caps, err := capability.ForMode(capability.ModeProcess)
	require.NoError(t, err)
	root := procSys(t, map[string]string{"net/ipv4/ip_forward": "0", "kernel/pid_max": "4194304"})
	st := runtime.NewState()
	c := &Sysctls{Capabilities: caps, Root: root}
	rt := start(t, st, c)
	waitPass(t, rt, c.Name(), putSysctls(t, st, map[string]string{"net.ipv4.ip_forward": "1", "kernel.pid_max": "4194304", "net.ipv4.nope": "1"}))
	assert.Equal(t, SysctlStatusSpec{
		Desired: "1", Observed: "0",
		Error: "not applied: cairnd runs as an ordinary process (process mode)",
	}, sysctlStatus(t, st, "net.ipv4.ip_forward"))
	assert.Equal(t, "0\n", readParam(t, root, "net/ipv4/ip_forward"), "process mode never writes")
	assert.True(t, sysctlStatus(t, st, "kernel.pid_max").Applied)
	assert.Equal(t, "read net.ipv4.nope: no such parameter", sysctlStatus(t, st, "net.ipv4.nope").Error, "a typo is named in every mode")
}
