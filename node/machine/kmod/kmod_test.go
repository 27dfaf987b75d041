package kmod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// tree writes a modules directory: modules.dep, modules.builtin and an
// empty file for every module modules.dep names.
func tree(t *testing.T, dep string, builtin ...string) *Index {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "modules.dep"), []byte(dep), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "modules.builtin"), []byte(strings.Join(builtin, "\n")), 0o644))
	for _, line := range strings.Split(dep, "\n") {
		if p, _, ok := strings.Cut(line, ":"); ok {
			require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte("fake module"), 0o644))
		}
	}
	ix, err := Open(root)
	require.NoError(t, err)
	return ix
}

const deps = `kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko kernel/fs/mbcache.ko
kernel/fs/jbd2/jbd2.ko:
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/drivers/net/wireguard/wireguard.ko: kernel/net/ipv4/udp_tunnel.ko kernel/net/ipv6/ip6_udp_tunnel.ko kernel/lib/crypto/libchacha.ko
kernel/net/ipv4/udp_tunnel.ko:
kernel/net/ipv6/ip6_udp_tunnel.ko: kernel/net/ipv4/udp_tunnel.ko
kernel/lib/crypto/libchacha.ko:
kernel/drivers/block/nbd.ko:
kernel/net/bridge/br_netfilter.ko: kernel/net/bridge/bridge.ko
kernel/net/bridge/bridge.ko: kernel/net/llc/stp.ko
kernel/net/llc/stp.ko: kernel/net/llc/llc.ko
kernel/net/llc/llc.ko:
kernel/x/loop_a.ko: kernel/x/loop_b.ko
kernel/x/loop_b.ko: kernel/x/loop_a.ko
kernel/x/needs_cycle.ko: kernel/x/loop_a.ko
kernel/x/needs_ghost.ko: kernel/x/ghost.ko
kernel/x/uses_builtin.ko: kernel/lib/libcrc32c.ko
kernel/drivers/net/virtio_net.ko.zst:
kernel/drivers/net/uses_zst.ko: kernel/drivers/net/virtio_net.ko.zst
`

func builtins() []string {
	return []string{"kernel/lib/libcrc32c.ko", "kernel/drivers/net/dummy-net.ko"}
}

func names(ms []Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestResolve(t *testing.T) {
	ix := tree(t, deps, builtins()...)
	for _, tc := range []struct {
		name    string
		request []string
		order   []string
		builtin []string
		failed  map[string]error
	}{
		{name: "no deps", request: []string{"nbd"}, order: []string{"nbd"}},
		{name: "chain", request: []string{"br_netfilter"}, order: []string{"llc", "stp", "bridge", "br_netfilter"}},
		{name: "several deps", request: []string{"ext4"}, order: []string{"jbd2", "crc16", "mbcache", "ext4"}},
		{name: "shared dep once", request: []string{"wireguard", "ip6_udp_tunnel", "udp_tunnel"},
			order: []string{"udp_tunnel", "ip6_udp_tunnel", "libchacha", "wireguard"}},
		{name: "requested twice", request: []string{"nbd", "nbd"}, order: []string{"nbd"}},
		{name: "dash and underscore", request: []string{"br-netfilter", "ip6-udp_tunnel"},
			order: []string{"llc", "stp", "bridge", "br_netfilter", "udp_tunnel", "ip6_udp_tunnel"}},
		{name: "builtin skipped", request: []string{"libcrc32c", "dummy_net", "nbd"}, order: []string{"nbd"},
			builtin: []string{"libcrc32c", "dummy_net"}},
		{name: "builtin dependency", request: []string{"uses_builtin"}, order: []string{"uses_builtin"}},
		{name: "unknown fails only itself", request: []string{"nope", "nbd"}, order: []string{"nbd"},
			failed: map[string]error{"nope": ErrUnknownModule}},
		{name: "unknown dependency", request: []string{"needs_ghost", "nbd"}, order: []string{"nbd"},
			failed: map[string]error{"needs_ghost": ErrUnknownModule}},
		{name: "cycle refused", request: []string{"loop_a", "needs_cycle", "nbd"}, order: []string{"nbd"},
			failed: map[string]error{"loop_a": ErrCycle, "needs_cycle": ErrCycle}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ix.Resolve(tc.request)
			assert.Equal(t, tc.order, names(p.Order))
			require.Len(t, p.Requests, len(tc.request))
			var builtin []string
			for _, r := range p.Requests {
				if r.Builtin {
					builtin = append(builtin, r.Name)
				}
				if want := tc.failed[r.Name]; want != nil {
					assert.ErrorIs(t, r.Err, want, r.Name)
				} else {
					assert.NoError(t, r.Err, r.Name)
				}
			}
			assert.Equal(t, tc.builtin, builtin)
		})
	}
}

func TestResolveNamesTheCycle(t *testing.T) {
	ix := tree(t, deps)
	p := ix.Resolve([]string{"needs_cycle"})
	require.ErrorIs(t, p.Requests[0].Err, ErrCycle)
	assert.Contains(t, p.Requests[0].Err.Error(), "needs_cycle -> loop_a -> loop_b -> loop_a")
}

func TestParseDepRefusesMalformedLines(t *testing.T) {
	_, err := ParseDep(strings.NewReader("kernel/a.ko:\nno colon here\n"))
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "line 2")
}

func TestOpenWithoutBuiltinList(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "modules.dep"), []byte("kernel/a-b.ko:\n"), 0o644))
	ix, err := Open(root)
	require.NoError(t, err)
	p := ix.Resolve([]string{"a_b"})
	require.NoError(t, p.Requests[0].Err)
	assert.Equal(t, []Module{{Name: "a_b", Path: filepath.Join(root, "kernel/a-b.ko")}}, p.Order)
}

func TestOpenMissingDirectory(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "absent"))
	require.ErrorIs(t, err, ErrNoIndex)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// recorder is a Loader that records what it loads, in order, checks the
// file exists, and fails the modules named in fail.
type recorder struct {
	loaded []string
	fail   map[string]error
}

func (r *recorder) Load(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	name := nameOf(path)
	if err := r.fail[name]; err != nil {
		return err
	}
	r.loaded = append(r.loaded, name)
	return nil
}

func byName(rs []Result) map[string]Result {
	out := map[string]Result{}
	for _, r := range rs {
		out[r.Name] = r
	}
	return out
}

func TestLoadInDependencyOrder(t *testing.T) {
	ix := tree(t, deps, builtins()...)
	l := &recorder{}
	res := byName(Load(l, ix.Resolve([]string{"br-netfilter", "wireguard", "libcrc32c", "nope", "nbd"})))
	assert.Equal(t, []string{"llc", "stp", "bridge", "br_netfilter", "udp_tunnel", "ip6_udp_tunnel", "libchacha", "wireguard", "nbd"}, l.loaded)
	assert.Equal(t, Loaded, res["br-netfilter"].State)
	assert.Equal(t, Loaded, res["wireguard"].State)
	assert.Equal(t, Builtin, res["libcrc32c"].State)
	assert.Equal(t, Failed, res["nope"].State)
	assert.ErrorIs(t, res["nope"].Err, ErrUnknownModule)
	assert.Equal(t, Loaded, res["nbd"].State)

	// Loading again is the same: the real loader treats EEXIST as success.
	l2 := &recorder{}
	Load(l2, ix.Resolve([]string{"br-netfilter"}))
	assert.Equal(t, []string{"llc", "stp", "bridge", "br_netfilter"}, l2.loaded)
}

// A failed dependency fails its dependents without trying them, and only
// them: a sibling that needs nothing of it still loads.
func TestLoadFailureStaysWithItsDependents(t *testing.T) {
	ix := tree(t, deps)
	l := &recorder{fail: map[string]error{"stp": unix.ENOEXEC}}
	res := byName(Load(l, ix.Resolve([]string{"br_netfilter", "ext4", "llc"})))
	assert.Equal(t, []string{"llc", "jbd2", "crc16", "mbcache", "ext4"}, l.loaded)
	assert.Equal(t, Failed, res["br_netfilter"].State)
	assert.ErrorIs(t, res["br_netfilter"].Err, ErrDependencyFailed)
	assert.ErrorIs(t, res["br_netfilter"].Err, unix.ENOEXEC)
	assert.False(t, Transient(res["br_netfilter"].Err))
	assert.Equal(t, Loaded, res["ext4"].State)
	assert.Equal(t, Loaded, res["llc"].State)
}

func TestLoadRefusesCompressedModules(t *testing.T) {
	ix := tree(t, deps)
	l := &recorder{}
	res := byName(Load(l, ix.Resolve([]string{"uses_zst", "virtio-net", "nbd"})))
	assert.Equal(t, []string{"nbd"}, l.loaded, "nothing compressed reaches the loader")
	for _, n := range []string{"uses_zst", "virtio-net"} {
		assert.Equal(t, Failed, res[n].State, n)
		assert.ErrorIs(t, res[n].Err, ErrCompressed, n)
		assert.Contains(t, res[n].Err.Error(), "compressed modules are not supported yet")
	}
	// The real loader refuses them before opening the file, so this test
	// never reaches finit_module.
	assert.ErrorIs(t, Finit{}.Load(filepath.Join(ix.Root, "kernel/drivers/net/virtio_net.ko.zst")), ErrCompressed)
}

func TestTransient(t *testing.T) {
	assert.True(t, Transient(fmt.Errorf("load x: %w", unix.EBUSY)))
	assert.True(t, Transient(unix.ENOMEM))
	assert.False(t, Transient(ErrUnknownModule))
	assert.False(t, Transient(os.ErrNotExist))
	assert.False(t, Transient(errors.Join(ErrCompressed)))
}
