package controllers

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/runtime"
)

// modulesDir writes a fake modules directory: bridge needs stp needs llc,
// crc32c is built in.
func modulesDir(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dep := "kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko kernel/net/llc/stp.ko kernel/net/llc/llc.ko\n" +
		"kernel/net/bridge/bridge.ko: kernel/net/llc/stp.ko kernel/net/llc/llc.ko\n" +
		"kernel/net/llc/stp.ko: kernel/net/llc/llc.ko\n" +
		"kernel/net/llc/llc.ko:\n" +
		"kernel/drivers/block/nbd.ko:\n"
	require.NoError(t, os.WriteFile(filepath.Join(root, "modules.dep"), []byte(dep), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "modules.builtin"), []byte("kernel/lib/libcrc32c.ko\n"), 0o644))
	for _, line := range strings.Split(strings.TrimSpace(dep), "\n") {
		p, _, _ := strings.Cut(line, ":")
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), nil, 0o644))
	}
	return root
}

// fakeKernel is a Loader that records what it loaded, in order, and
// fails a module's first busy loads with EBUSY.
type fakeKernel struct {
	mu     sync.Mutex
	loaded []string
	busy   map[string]int
}

func (k *fakeKernel) Load(path string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	name := strings.TrimSuffix(filepath.Base(path), ".ko")
	if k.busy[name] > 0 {
		k.busy[name]--
		return unix.EBUSY
	}
	k.loaded = append(k.loaded, name)
	return nil
}

func (k *fakeKernel) calls() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.loaded...)
}

func putModules(t *testing.T, st *runtime.State, names ...string) uint64 {
	t.Helper()
	var v uint64
	for _, n := range names {
		r, err := st.Put(runtime.Resource{Type: TypeKernelModuleSpec, ID: n, Spec: KernelModuleSpecSpec{Source: "test"}})
		require.NoError(t, err)
		v = r.Version
	}
	return v
}

func TestKernelModulesLoadsDependenciesFirst(t *testing.T) {
	caps, err := capability.ForMode(capability.ModePID1)
	require.NoError(t, err)
	st := runtime.NewState()
	k := &fakeKernel{}
	start(t, st, &KernelModules{Capabilities: caps, Root: modulesDir(t), Loader: k})
	putModules(t, st, "br-netfilter", "libcrc32c", "nope", "nbd")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for id, want := range map[string]string{"br-netfilter": "loaded", "libcrc32c": "builtin", "nope": "failed", "nbd": "loaded"} {
			s, ok := specOf[KernelModuleStatusSpec](st, TypeKernelModuleStatus, id)
			require.True(ct, ok, id)
			assert.Equal(ct, want, s.State, id)
		}
	}, 5*time.Second, time.Millisecond)
	s, _ := specOf[KernelModuleStatusSpec](st, TypeKernelModuleStatus, "nope")
	assert.Contains(t, s.Error, "unknown kernel module")
	// Specs are listed by ID, and each pass loads the whole list again
	// (EEXIST is success for the real loader); every pass keeps the order.
	calls := k.calls()
	require.NotEmpty(t, calls)
	assert.Equal(t, []string{"llc", "stp", "bridge", "br_netfilter", "nbd"}, calls[len(calls)-5:])
	assert.Less(t, indexOf(calls, "llc"), indexOf(calls, "stp"))
	assert.Less(t, indexOf(calls, "stp"), indexOf(calls, "bridge"))
}

// A busy kernel fails the pass, and the runtime's retry loads the module.
func TestKernelModulesRetriesTransientErrors(t *testing.T) {
	caps, err := capability.ForMode(capability.ModePID1)
	require.NoError(t, err)
	st := runtime.NewState()
	k := &fakeKernel{busy: map[string]int{"nbd": 1}}
	start(t, st, &KernelModules{Capabilities: caps, Root: modulesDir(t), Loader: k})
	putModules(t, st, "nbd")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		s, ok := specOf[KernelModuleStatusSpec](st, TypeKernelModuleStatus, "nbd")
		require.True(ct, ok)
		assert.Equal(ct, "loaded", s.State)
		assert.Empty(ct, s.Error)
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, []string{"nbd"}, k.calls(), "loaded once, after the busy attempt")
}

// A machine without the capability loads nothing and says why per module;
// a modules directory it would not read does not matter.
func TestKernelModulesSkipsWithoutTheCapability(t *testing.T) {
	caps, err := capability.ForMode(capability.ModeContainer)
	require.NoError(t, err)
	st := runtime.NewState()
	k := &fakeKernel{}
	c := &KernelModules{Capabilities: caps, Root: filepath.Join(t.TempDir(), "absent"), Loader: k}
	rt := start(t, st, c)
	waitPass(t, rt, c.Name(), putModules(t, st, "br_netfilter", "nbd"))
	for _, id := range []string{"br_netfilter", "nbd"} {
		s, ok := specOf[KernelModuleStatusSpec](st, TypeKernelModuleStatus, id)
		require.True(t, ok, id)
		assert.Equal(t, "skipped", s.State)
		assert.Equal(t, "skipped: kernel modules belong to the host", s.Error)
	}
	assert.Empty(t, k.calls())
	ps, _ := rt.PassStatus(c.Name())
	assert.NoError(t, ps.Err)
}

// An image without a modules index fails every status, not the pass.
func TestKernelModulesWithoutAnIndex(t *testing.T) {
	caps, err := capability.ForMode(capability.ModePID1)
	require.NoError(t, err)
	st := runtime.NewState()
	c := &KernelModules{Capabilities: caps, Root: filepath.Join(t.TempDir(), "absent"), Loader: &fakeKernel{}}
	rt := start(t, st, c)
	waitPass(t, rt, c.Name(), putModules(t, st, "nbd"))
	s, ok := specOf[KernelModuleStatusSpec](st, TypeKernelModuleStatus, "nbd")
	require.True(t, ok)
	assert.Equal(t, "failed", s.State)
	assert.Contains(t, s.Error, "no kernel modules index")
	ps, _ := rt.PassStatus(c.Name())
	assert.NoError(t, ps.Err, "a permanent failure does not fail the pass")
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
