package bootcfg

import (
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/cairn-project/cairn/internal/testutil"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func newNS(t *testing.T) *netlink.Handle {
	t.Helper()
	testutil.RequireRoot(t, "namespaces")
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.New()
		ch <- result{ns, err}
	}()
	r := <-ch
	require.NoError(t, r.err)
	t.Cleanup(func() { r.ns.Close() })
	h, err := netlink.NewHandleAt(r.ns)
	require.NoError(t, err)
	t.Cleanup(h.Close)
	return h
}

// TestApplyHostNet configures a link found by its MAC, twice (the
// second is a no-op), and leaves another link alone.
func TestApplyHostNet(t *testing.T) {
	h := newNS(t)
	mac := mustMAC("52:54:00:12:34:56")
	// veth pairs: this kernel may lack the dummy driver.
	require.NoError(t, h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ens4", HardwareAddr: mac}, PeerName: "ens4p"}))
	require.NoError(t, h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ens3", HardwareAddr: mustMAC("52:54:00:00:00:01")}, PeerName: "ens3p"}))
	hn := HostNet{MAC: mac, Address: netip.MustParsePrefix("10.0.2.15/24"), Gateway: netip.MustParseAddr("10.0.2.2")}
	require.NoError(t, ApplyHostNet(h, hn))
	require.NoError(t, ApplyHostNet(h, hn))

	link, err := h.LinkByName("ens4")
	require.NoError(t, err)
	require.NotZero(t, link.Attrs().Flags&net.FlagUp)
	addrs, err := h.AddrList(link, unix.AF_INET)
	require.NoError(t, err)
	require.Len(t, addrs, 1)
	require.Equal(t, "10.0.2.15/24", addrs[0].IPNet.String())
	routes, err := h.RouteList(link, unix.AF_INET)
	require.NoError(t, err)
	var defaults []netlink.Route
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			defaults = append(defaults, r)
		}
	}
	require.Len(t, defaults, 1)
	require.Equal(t, "10.0.2.2", defaults[0].Gw.String())
	require.Equal(t, HostNetMetric, defaults[0].Priority)

	other, err := h.LinkByName("ens3")
	require.NoError(t, err)
	require.Zero(t, other.Attrs().Flags&net.FlagUp, "another link is left alone")

	err = ApplyHostNet(h, HostNet{MAC: mustMAC("52:54:00:99:99:99"), Address: hn.Address})
	require.ErrorContains(t, err, "no link with MAC")
}
