package controllers

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/network"
	"github.com/cairn-project/cairn/node/runtime"
)

// fakeUTS is a UTS namespace in memory that counts sethostname calls and
// refuses names in refuse.
type fakeUTS struct {
	mu     sync.Mutex
	name   string
	sets   int
	refuse map[string]error
}

func (u *fakeUTS) Hostname() (string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.name, nil
}

func (u *fakeUTS) SetHostname(name string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refuse[name]; err != nil {
		return err
	}
	u.sets++
	u.name = name
	return nil
}

func (u *fakeUTS) calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sets
}

func putNetworkSpec(t *testing.T, st *runtime.State, hostname string) uint64 {
	t.Helper()
	r, err := st.Put(runtime.Resource{Type: TypeNetworkSpec, ID: IDDesired, Spec: NetworkSpecSpec{Desired: network.Desired{Hostname: hostname}}})
	require.NoError(t, err)
	return r.Version
}

func hostnameStatus(t *testing.T, st *runtime.State) HostnameStatusSpec {
	t.Helper()
	s, ok := specOf[HostnameStatusSpec](st, TypeHostnameStatus, IDStatus)
	require.True(t, ok)
	return s
}

// The configured hostname is set, or the node's name when none is; a name
// already held is not set again; a refused one is a status.
func TestHostnameSetsTheConfiguredName(t *testing.T) {
	caps, err := capability.ForMode(capability.ModeContainer)
	require.NoError(t, err)
	uts := &fakeUTS{name: "boot-name", refuse: map[string]error{"refused": errors.New("set hostname \"refused\": operation not permitted")}}
	st := runtime.NewState()
	c := &Hostname{NodeName: "cp1", Capabilities: caps, UTS: uts}
	rt := start(t, st, c)

	waitPass(t, rt, c.Name(), putNetworkSpec(t, st, ""))
	assert.Equal(t, HostnameStatusSpec{Desired: "cp1", Observed: "cp1", Applied: true}, hostnameStatus(t, st), "the node's name by default")

	waitPass(t, rt, c.Name(), putNetworkSpec(t, st, "cp1.example.org"))
	assert.Equal(t, HostnameStatusSpec{Desired: "cp1.example.org", Observed: "cp1.example.org", Applied: true}, hostnameStatus(t, st))
	assert.Equal(t, 2, uts.calls())

	waitPass(t, rt, c.Name(), putNetworkSpec(t, st, "refused"))
	assert.Equal(t, HostnameStatusSpec{Desired: "refused", Observed: "cp1.example.org", Error: `set hostname "refused": operation not permitted`}, hostnameStatus(t, st))
	ps, _ := rt.PassStatus(c.Name())
	require.NoError(t, ps.Err, "a refused hostname does not fail the pass")

	waitPass(t, rt, c.Name(), putNetworkSpec(t, st, "cp1.example.org"))
	assert.True(t, hostnameStatus(t, st).Applied)
	assert.Equal(t, 2, uts.calls(), "a hostname already held is not set again")
}

// Process mode never renames the host and says why.
func TestHostnameNotSetInProcessMode(t *testing.T) {
	caps, err := capability.ForMode(capability.ModeProcess)
	require.NoError(t, err)
	uts := &fakeUTS{name: "laptop"}
	st := runtime.NewState()
	c := &Hostname{NodeName: "cp1", Capabilities: caps, UTS: uts}
	rt := start(t, st, c)
	waitPass(t, rt, c.Name(), putNetworkSpec(t, st, ""))
	assert.Equal(t, HostnameStatusSpec{
		Desired: "cp1", Observed: "laptop",
		Error: "not applied: cairnd runs as an ordinary process (process mode)",
	}, hostnameStatus(t, st))
	assert.Zero(t, uts.calls())
}

// The kernel's UTS namespace refuses to rename the host from a process
// that is not PID 1 and shares its parent's namespace, as this test does.
// The syscall is a recorder: a broken guard must not rename the host.
func TestKernelUTSRefusesTheHostsHostname(t *testing.T) {
	var set []string
	uts := kernelUTS{set: func(name string) error { set = append(set, name); return nil }}
	require.ErrorIs(t, uts.SetHostname("cairn-must-not-rename-the-host"), ErrSharedUTS)
	assert.Empty(t, set, "sethostname was not called")
}
