package network

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/cluster/config"
)

func desiredFrom(t *testing.T, n config.NodeNetwork) Desired {
	t.Helper()
	d, err := DesiredFrom(n)
	require.NoError(t, err)
	return d
}

// TestRemovedAddressGoesUnmanagedSurvives: an address dropped from the
// config leaves the kernel, while an address and a route that someone else
// added on the same link stay.
func TestRemovedAddressGoesUnmanagedSurvives(t *testing.T) {
	n := newNS(t)
	n.veth(t, "eth0", nil, "eth0p")
	link := []config.Link{{Name: "eth0", Up: true}}
	v1 := desiredFrom(t, config.NodeNetwork{Links: link, Addresses: []config.Address{
		{Link: "eth0", CIDR: "198.18.0.1/24"},
		{Link: "eth0", CIDR: "198.18.1.1/24"},
		{Link: "eth0", CIDR: "2001:db8::1/64"},
	}})
	n.apply(t, Desired{}, v1)

	// Out of band, as an operator's tool or a CNI plugin would.
	eth0, err := n.h.LinkByName("eth0")
	require.NoError(t, err)
	require.NoError(t, n.h.AddrAdd(eth0, &netlink.Addr{IPNet: mustIPNet("198.18.7.7/24")}))
	require.NoError(t, n.h.RouteAdd(&netlink.Route{
		LinkIndex: eth0.Attrs().Index, Dst: mustIPNet("203.0.113.0/24"), Gw: net.ParseIP("198.18.7.254"),
	}))

	v2 := desiredFrom(t, config.NodeNetwork{Links: link, Addresses: []config.Address{
		{Link: "eth0", CIDR: "198.18.0.1/24"},
	}})
	changes := n.apply(t, v1, v2)
	require.ElementsMatch(t, []Change{
		{Kind: KindAddress, Action: ActionRemove, Link: "eth0", Object: "198.18.1.1/24"},
		{Kind: KindAddress, Action: ActionRemove, Link: "eth0", Object: "2001:db8::1/64"},
	}, changes)

	obs := n.observe(t)
	require.True(t, obs.hasAddress("eth0", "198.18.0.1/24"), "still configured")
	require.False(t, obs.hasAddress("eth0", "198.18.1.1/24"), "dropped from config")
	require.False(t, obs.hasAddress("eth0", "2001:db8::1/64"), "dropped from config")
	require.True(t, obs.hasAddress("eth0", "198.18.7.7/24"), "not ours: must survive")
	r, ok := obs.route("203.0.113.0/24", 0)
	require.True(t, ok, "route not ours: must survive")
	require.Equal(t, netip.MustParseAddr("198.18.7.254"), r.Gateway)

	// Dropping everything still leaves the foreign address alone.
	n.apply(t, v2, desiredFrom(t, config.NodeNetwork{Links: link}))
	obs = n.observe(t)
	require.False(t, obs.hasAddress("eth0", "198.18.0.1/24"))
	require.True(t, obs.hasAddress("eth0", "198.18.7.7/24"))
}

// TestDefaultRouteViaGateway: a default route via a gateway appears when
// configured and disappears when dropped, while the link's connected route
// (the kernel's, never ours) stays.
func TestDefaultRouteViaGateway(t *testing.T) {
	n := newNS(t)
	n.veth(t, "eth0", nil, "eth0p")
	base := config.NodeNetwork{
		Links:     []config.Link{{Name: "eth0", Up: true}},
		Addresses: []config.Address{{Link: "eth0", CIDR: "198.18.0.10/24"}},
	}
	withDefault := base
	withDefault.Routes = []config.Route{
		{Link: "eth0", Dst: "0.0.0.0/0", Gateway: "198.18.0.1", Metric: 100},
		{Link: "eth0", Dst: "198.18.0.0/24", Metric: 0},
	}
	v1, v2 := desiredFrom(t, base), desiredFrom(t, withDefault)
	n.apply(t, Desired{}, v1)
	_, ok := n.observe(t).route("0.0.0.0/0", 100)
	require.False(t, ok)

	changes := n.apply(t, v1, v2)
	require.Equal(t, []string{"replace route 0.0.0.0/0 via 198.18.0.1 metric 100 on eth0"}, changes.Strings(),
		"the on-link route equals the kernel's connected route, so it needs no change")
	r, ok := n.observe(t).route("0.0.0.0/0", 100)
	require.True(t, ok, "default route installed")
	require.Equal(t, RouteStatus{
		Link: "eth0", Dst: netip.MustParsePrefix("0.0.0.0/0"),
		Gateway: netip.MustParseAddr("198.18.0.1"), Metric: 100,
		Protocol: unix.RTPROT_STATIC, Scope: unix.RT_SCOPE_UNIVERSE,
	}, r)

	planned, err := Plan(context.Background(), n.h, v2, v1)
	require.NoError(t, err)
	require.Equal(t, []string{"remove route 0.0.0.0/0 via 198.18.0.1 metric 100 on eth0"}, planned.Strings(),
		"the connected route matches a dropped spec route but is the kernel's")
	changes = n.apply(t, v2, v1)
	require.Equal(t, []string{"remove route 0.0.0.0/0 via 198.18.0.1 metric 100 on eth0"}, changes.Strings())
	obs := n.observe(t)
	_, ok = obs.route("0.0.0.0/0", 100)
	require.False(t, ok, "default route removed")
	connected, ok := obs.route("198.18.0.0/24", 0)
	require.True(t, ok, "the kernel's connected route is not ours to remove")
	require.Equal(t, "eth0", connected.Link)
}

func mustIPNet(cidr string) *net.IPNet {
	return ipNet(netip.MustParsePrefix(cidr))
}

// TestUnmanagedLinkLeftAlone is the host-forward NIC of a VM (pid1's
// cairn.hostnet, applied outside the config): a link the config does not
// name, with an address and a fallback default route at metric 4096, keeps
// all three while the config's own links, addresses and default route
// come and go.
func TestUnmanagedLinkLeftAlone(t *testing.T) {
	n := newNS(t)
	n.veth(t, "eth0", nil, "eth0p")
	n.veth(t, "hostnic", nil, "hostnicp")
	n.setUp(t, "hostnic")
	hostnic, err := n.h.LinkByName("hostnic")
	require.NoError(t, err)
	require.NoError(t, n.h.AddrAdd(hostnic, &netlink.Addr{IPNet: mustIPNet("10.0.2.15/24")}))
	require.NoError(t, n.h.RouteAdd(&netlink.Route{
		LinkIndex: hostnic.Attrs().Index, Dst: mustIPNet("0.0.0.0/0"), Gw: net.ParseIP("10.0.2.2"), Priority: 4096,
	}))
	v1 := desiredFrom(t, config.NodeNetwork{
		Links:     []config.Link{{Name: "eth0", Up: true}},
		Addresses: []config.Address{{Link: "eth0", CIDR: "198.18.0.10/24"}},
		Routes:    []config.Route{{Link: "eth0", Dst: "0.0.0.0/0", Gateway: "198.18.0.1"}},
	})
	for _, step := range [][2]Desired{{{}, v1}, {v1, {}}} {
		n.apply(t, step[0], step[1])
		obs := n.observe(t)
		require.True(t, obs.hasAddress("hostnic", "10.0.2.15/24"))
		r, ok := obs.route("0.0.0.0/0", 4096)
		require.True(t, ok, "the host NIC's default route survives")
		require.Equal(t, "hostnic", r.Link)
		for _, l := range obs.Links {
			if l.Name == "hostnic" {
				require.True(t, l.Up, "the host NIC stays up")
			}
		}
	}
}
