package network

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

func TestDesiredFromParsesConfig(t *testing.T) {
	d, err := DesiredFrom(config.NodeNetwork{
		Hostname:  "node-1",
		Links:     []config.Link{{Name: "eth0", Up: true, MTU: 9000}, {Name: "eth1"}},
		Addresses: []config.Address{{Link: "eth0", CIDR: "192.0.2.10/24"}, {Link: "eth1", CIDR: "2001:db8::10/64"}},
		Routes: []config.Route{
			{Link: "eth0", Dst: "0.0.0.0/0", Gateway: "192.0.2.1", Metric: 100},
			{Link: "eth1", Dst: "2001:db8:1::/48"},
		},
	})
	require.NoError(t, err)
	require.Equal(t, Desired{
		Hostname: "node-1",
		Links:    []LinkSpec{{Name: "eth0", State: LinkStateUp, MTU: 9000}, {Name: "eth1", State: LinkStateUnchanged}},
		Addresses: []AddressSpec{
			{Link: "eth0", Prefix: netip.MustParsePrefix("192.0.2.10/24")},
			{Link: "eth1", Prefix: netip.MustParsePrefix("2001:db8::10/64")},
		},
		Routes: []RouteSpec{
			{Link: "eth0", Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("192.0.2.1"), Metric: 100},
			{Link: "eth1", Dst: netip.MustParsePrefix("2001:db8:1::/48")},
		},
	}, d)
	require.Equal(t, "2001:db8:1::/48 metric 1024", d.Routes[1].String(), "IPv6 metric 0 is the kernel's 1024")
}

func TestDesiredFromRejects(t *testing.T) {
	eth0 := []config.Link{{Name: "eth0"}}
	for name, n := range map[string]config.NodeNetwork{
		"empty link name":   {Links: []config.Link{{}}},
		"duplicate link":    {Links: []config.Link{{Name: "eth0"}, {Name: "eth0"}}},
		"bad cidr":          {Links: eth0, Addresses: []config.Address{{Link: "eth0", CIDR: "192.0.2.300/24"}}},
		"cidr without bits": {Links: eth0, Addresses: []config.Address{{Link: "eth0", CIDR: "192.0.2.1"}}},
		"undeclared link":   {Links: eth0, Addresses: []config.Address{{Link: "eth9", CIDR: "192.0.2.1/24"}}},
		"duplicate address": {Links: eth0, Addresses: []config.Address{{Link: "eth0", CIDR: "192.0.2.1/24"}, {Link: "eth0", CIDR: "192.0.2.1/24"}}},
		"route host bits":   {Links: eth0, Routes: []config.Route{{Link: "eth0", Dst: "192.0.2.1/24"}}},
		"route family":      {Links: eth0, Routes: []config.Route{{Link: "eth0", Dst: "0.0.0.0/0", Gateway: "2001:db8::1"}}},
		"route bad gateway": {Links: eth0, Routes: []config.Route{{Link: "eth0", Dst: "0.0.0.0/0", Gateway: "gw"}}},
		"route link":        {Links: eth0, Routes: []config.Route{{Link: "eth1", Dst: "0.0.0.0/0"}}},
		"duplicate route": {Links: eth0, Routes: []config.Route{
			{Link: "eth0", Dst: "::/0", Gateway: "2001:db8::1"},
			{Link: "eth0", Dst: "::/0", Gateway: "2001:db8::2", Metric: 1024},
		}},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := DesiredFrom(n)
			require.ErrorIs(t, err, ErrInvalidConfig)
			require.Equal(t, Desired{}, d)
		})
	}
}

func TestDesiredFromReportsEveryProblem(t *testing.T) {
	_, err := DesiredFrom(config.NodeNetwork{
		Links:     []config.Link{{Name: "eth0"}},
		Addresses: []config.Address{{Link: "eth0", CIDR: "bad"}},
		Routes:    []config.Route{{Link: "eth0", Dst: "bad"}},
	})
	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	require.Len(t, joined.Unwrap(), 2)
	require.ErrorContains(t, err, "addresses[0]: parse cidr \"bad\"")
	require.ErrorContains(t, err, "routes[0]: parse dst \"bad\"")
}

func TestRetainKeepsDroppedObjectsAfterFailure(t *testing.T) {
	a1 := AddressSpec{Link: "eth0", Prefix: netip.MustParsePrefix("192.0.2.1/24")}
	a2 := AddressSpec{Link: "eth0", Prefix: netip.MustParsePrefix("192.0.2.2/24")}
	r1 := RouteSpec{Link: "eth0", Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("192.0.2.254")}
	prev := Desired{Addresses: []AddressSpec{a1, a2}, Routes: []RouteSpec{r1}}
	next := Desired{Addresses: []AddressSpec{a1}}

	require.Equal(t, next, Retain(prev, next, nil))
	kept := Retain(prev, next, errors.New("remove failed"))
	require.Equal(t, []AddressSpec{a1, a2}, kept.Addresses)
	require.Equal(t, []RouteSpec{r1}, kept.Routes)
	require.Equal(t, []AddressSpec{a1}, next.Addresses, "next is not modified")
}

func TestChangeString(t *testing.T) {
	require.Equal(t, "set link eth0 mtu 1400",
		Change{Kind: KindLink, Action: ActionSet, Link: "eth0", Object: "mtu 1400"}.String())
	require.Equal(t, "remove address 192.0.2.1/24 on eth0",
		Change{Kind: KindAddress, Action: ActionRemove, Link: "eth0", Object: "192.0.2.1/24"}.String())
}
