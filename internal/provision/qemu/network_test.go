package qemu

import (
	"fmt"
	"os"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
)

func TestNetworkTapsLiveAsLongAsTheirQueue(t *testing.T) {
	testutil.RequireRoot(t, "network namespaces and taps")
	n := Network{Namespace: fmt.Sprintf("cairn-qemu-test-%d", os.Getpid()), Bridge: "br-test"}
	t.Cleanup(func() { _ = n.Delete() })
	require.NoError(t, n.Create())
	require.NoError(t, n.Create(), "create is idempotent")

	a, err := n.Tap("tap-a")
	require.NoError(t, err)
	b, err := n.Tap("tap-b")
	require.NoError(t, err)
	links, err := n.Links()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"br-test", "tap-a", "tap-b"}, links)
	_, err = netlink.LinkByName("tap-a")
	require.Error(t, err, "the taps are not in the host's namespace")

	require.NoError(t, n.in(func() error {
		br, err := netlink.LinkByName("br-test")
		require.NoError(t, err)
		addrs, err := netlink.AddrList(br, netlink.FAMILY_V4)
		require.NoError(t, err)
		require.Empty(t, addrs, "the bridge has no address: nothing routes to the host")
		for _, name := range []string{"tap-a", "tap-b"} {
			l, err := netlink.LinkByName(name)
			require.NoError(t, err)
			require.Equal(t, br.Attrs().Index, l.Attrs().MasterIndex, name)
		}
		return nil
	}))

	_, err = n.Tap("tap-a")
	require.Error(t, err, "a tap whose queue is held cannot be taken twice")
	require.NoError(t, a.Close())
	links, err = n.Links()
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"br-test", "tap-b"}, links, "a tap goes with its last queue")

	require.NoError(t, n.Delete())
	require.NoError(t, n.Delete(), "delete is idempotent")
	links, err = n.Links()
	require.NoError(t, err)
	require.Empty(t, links)
	require.NoError(t, b.Close())
}
