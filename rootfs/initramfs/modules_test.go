package initramfs

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClosureAddsDependenciesAndSkipsBuiltins(t *testing.T) {
	loadable := map[string]string{
		"virtio_net": "kernel/drivers/net/virtio_net.ko", "net_failover": "kernel/drivers/net/net_failover.ko",
		"failover": "kernel/net/core/failover.ko", "virtio": "kernel/drivers/virtio/virtio.ko",
		"virtio_ring": "kernel/drivers/virtio/virtio_ring.ko", "unused": "kernel/unused.ko",
	}
	deps := map[string][]string{
		"kernel/drivers/net/virtio_net.ko":     {"net_failover", "virtio", "virtio_ring", "crc32c"},
		"kernel/drivers/net/net_failover.ko":   {"failover"},
		"kernel/drivers/virtio/virtio.ko":      nil,
		"kernel/drivers/virtio/virtio_ring.ko": {"virtio"},
		"kernel/net/core/failover.ko":          nil,
	}
	set, err := closure([]string{"virtio-net"}, loadable, map[string]bool{"crc32c": true},
		func(p string) ([]string, error) { return deps[p], nil })
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"virtio_net", "net_failover", "failover", "virtio", "virtio_ring"}, keys(set))
	// depmod's order: loading from the end gives every module after what
	// it needs (virtio before virtio_ring, failover before net_failover).
	require.Equal(t, []string{"virtio_ring", "virtio", "net_failover", "failover"}, set.transitive("virtio_net"))
	require.Empty(t, set.transitive("virtio"))

	_, err = closure([]string{"virtio_net", "nosuch"}, loadable, map[string]bool{"crc32c": true},
		func(p string) ([]string, error) { return deps[p], nil })
	require.ErrorIs(t, err, ErrModules)
	require.ErrorContains(t, err, "nosuch")
	_, err = closure([]string{"virtio_net"}, loadable, nil,
		func(p string) ([]string, error) { return deps[p], nil })
	require.ErrorContains(t, err, "crc32c is neither in modules.order nor built in (virtio_net -> crc32c)", "a missing dependency names who needs it")
}

func keys(s moduleSet) []string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	return out
}
