package network

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkStatus is one kernel link as observed.
type LinkStatus struct {
	// Name is the interface name.
	Name string
	// Index is the kernel's interface index.
	Index int
	// Up reports whether the link is administratively up (IFF_UP); carrier
	// is not part of it.
	Up bool
	// MTU is the link's MTU in bytes.
	MTU int
	// MAC is the hardware address in net.HardwareAddr form, empty for links
	// without one (loopback has 00:00:00:00:00:00).
	MAC string
}

// AddressStatus is one address as observed.
type AddressStatus struct {
	// Link is the interface name the address is on.
	Link string
	// Prefix is the address with its prefix length.
	Prefix netip.Prefix
}

// RouteStatus is one main-table route as observed, whoever added it.
type RouteStatus struct {
	// Link is the outgoing interface name; empty for multipath routes.
	Link string
	// Dst is the destination prefix (0.0.0.0/0 or ::/0 for a default route).
	Dst netip.Prefix
	// Gateway is the next hop; the zero Addr for on-link routes.
	Gateway netip.Addr
	// Metric is the route's priority as the kernel stores it.
	Metric uint32
	// Protocol is the route's origin (RTPROT_*): kernel for connected routes,
	// static for the routes Apply installs, boot for `ip route add`.
	Protocol int
	// Scope is the route's scope (RT_SCOPE_*): link for on-link IPv4 routes,
	// universe for routes via a gateway and for IPv6.
	Scope int
}

// Observed is the status of a network namespace as the kernel reports it,
// sorted so that two observations of the same state compare equal.
type Observed struct {
	// Links are all links, by index.
	Links []LinkStatus
	// Addresses are all addresses of both families, by link then prefix.
	Addresses []AddressStatus
	// Routes are the unicast routes of the main table, by destination then
	// metric.
	Routes []RouteStatus
}

// Link returns the observed link with the given name.
func (o Observed) Link(name string) (LinkStatus, bool) {
	for _, l := range o.Links {
		if l.Name == name {
			return l, true
		}
	}
	return LinkStatus{}, false
}

// dumpAttempts bounds how often Observe repeats a netlink dump that the
// kernel interrupted because the table changed underneath it.
const dumpAttempts = 5

// Observe reads links, addresses and main-table routes through h. It never
// changes anything. A dump interrupted by a concurrent change is repeated
// (without sleeping) rather than reported half-read.
func Observe(h *netlink.Handle) (Observed, error) {
	if h == nil {
		return Observed{}, ErrNoHandle
	}
	links, err := retryDump(func() ([]netlink.Link, error) { return h.LinkList() })
	if err != nil {
		return Observed{}, fmt.Errorf("list links: %w", err)
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return Observed{}, fmt.Errorf("list addresses: %w", err)
	}
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_ALL,
			&netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return Observed{}, fmt.Errorf("list routes: %w", err)
	}
	return buildObserved(links, addrs, routes), nil
}

func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var err error
	for range dumpAttempts {
		var out []T
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}

func buildObserved(links []netlink.Link, addrs []netlink.Addr, routes []netlink.Route) Observed {
	var o Observed
	names := make(map[int]string, len(links))
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		o.Links = append(o.Links, LinkStatus{
			Name:  a.Name,
			Index: a.Index,
			Up:    a.Flags&net.FlagUp != 0,
			MTU:   a.MTU,
			MAC:   a.HardwareAddr.String(),
		})
	}
	for _, a := range addrs {
		p, ok := prefixOf(a.IPNet)
		if !ok {
			continue
		}
		o.Addresses = append(o.Addresses, AddressStatus{Link: names[a.LinkIndex], Prefix: p})
	}
	for _, r := range routes {
		if r.Type != unix.RTN_UNICAST {
			continue
		}
		dst, ok := prefixOf(r.Dst)
		if !ok {
			continue
		}
		gw, _ := netip.AddrFromSlice(r.Gw)
		o.Routes = append(o.Routes, RouteStatus{
			Link:     names[r.LinkIndex],
			Dst:      dst.Masked(),
			Gateway:  gw.Unmap(),
			Metric:   uint32(r.Priority),
			Protocol: int(r.Protocol),
			Scope:    int(r.Scope),
		})
	}
	slices.SortFunc(o.Links, func(a, b LinkStatus) int { return cmp.Compare(a.Index, b.Index) })
	slices.SortFunc(o.Addresses, compareAddress)
	slices.SortFunc(o.Routes, compareRoute)
	return o
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	ones, bits := n.Mask.Size()
	if bits != ip.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(ip, ones), true
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

func compareAddress(a, b AddressStatus) int {
	if c := cmp.Compare(a.Link, b.Link); c != 0 {
		return c
	}
	return comparePrefix(a.Prefix, b.Prefix)
}

func compareRoute(a, b RouteStatus) int {
	if c := comparePrefix(a.Dst, b.Dst); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Metric, b.Metric); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Link, b.Link); c != 0 {
		return c
	}
	return a.Gateway.Compare(b.Gateway)
}

// HardwareAddrs lists the hardware (MAC) addresses of this network
// namespace's interfaces, for the config's match rules; none when they
// cannot be listed.
func HardwareAddrs() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	out := []string{}
	for _, i := range ifs {
		if len(i.HardwareAddr) > 0 {
			out = append(out, i.HardwareAddr.String())
		}
	}
	return out
}
