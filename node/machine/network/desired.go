package network

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// LinkState is the administrative state the spec asks of a link.
type LinkState uint8

const (
	// LinkStateUnchanged leaves the link up or down as it is. The cluster
	// config's `up: false` maps here, so that omitting `up` can never cut a
	// node off.
	LinkStateUnchanged LinkState = iota
	// LinkStateUp sets the link administratively up.
	LinkStateUp
	// LinkStateDown sets the link administratively down. Configuration never
	// asks for it; other producers of a spec (maintenance, tests) may.
	LinkStateDown
)

// String returns "unchanged", "up" or "down".
func (s LinkState) String() string {
	switch s {
	case LinkStateUp:
		return "up"
	case LinkStateDown:
		return "down"
	default:
		return "unchanged"
	}
}

// LinkSpec is what Cairn wants of one existing kernel link. Cairn never
// creates or deletes links: they come from hardware or the container runtime.
type LinkSpec struct {
	// Name is the kernel interface name.
	Name string
	// State is the administrative state to converge to.
	State LinkState
	// MTU is the MTU to set; 0 leaves it as it is.
	MTU int
}

// AddressSpec is an address Cairn owns on a link.
type AddressSpec struct {
	// Link is the interface name the address is assigned to.
	Link string
	// Prefix is the address with its prefix length (host bits kept), for
	// example 192.0.2.10/24.
	Prefix netip.Prefix
}

// RouteSpec is a route Cairn owns in the main table. Its identity in the
// kernel (and here) is the destination and the metric; the link and the
// gateway are what a replace changes.
type RouteSpec struct {
	// Link is the interface name the route goes out of.
	Link string
	// Dst is the destination prefix; 0.0.0.0/0 or ::/0 is the default route.
	Dst netip.Prefix
	// Gateway is the next hop; the zero Addr means Dst is on the link.
	Gateway netip.Addr
	// Metric is the route priority; 0 is the kernel default (0 for IPv4,
	// 1024 for IPv6).
	Metric uint32
}

// Desired is the spec of a node's host network: what Apply converges the
// kernel to. It holds parsed values only, so Apply never fails on syntax.
type Desired struct {
	// Hostname is the configured hostname. Empty means the caller substitutes
	// the node's name. Apply ignores it; see SetHostname.
	Hostname string
	// Links are the links whose state and MTU Cairn manages.
	Links []LinkSpec
	// Addresses are the addresses Cairn owns.
	Addresses []AddressSpec
	// Routes are the main-table routes Cairn owns.
	Routes []RouteSpec
}

// DesiredFrom parses a node's network section into a spec. The config package
// validates the same rules with field paths for operators; DesiredFrom checks
// them again because a spec must never reach the kernel half-parsed. Every
// problem is reported, joined, each wrapping ErrInvalidConfig.
func DesiredFrom(n config.NodeNetwork) (Desired, error) {
	d := Desired{Hostname: n.Hostname}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}

	declared := make(map[string]bool, len(n.Links))
	for i, l := range n.Links {
		switch {
		case l.Name == "":
			bad("links[%d]: empty name", i)
		case declared[l.Name]:
			bad("links[%d]: duplicate link %q", i, l.Name)
		case l.MTU < 0:
			bad("links[%d]: negative mtu %d", i, l.MTU)
		default:
			declared[l.Name] = true
			s := LinkSpec{Name: l.Name, MTU: l.MTU}
			if l.Up {
				s.State = LinkStateUp
			}
			d.Links = append(d.Links, s)
		}
	}

	seenAddr := make(map[AddressSpec]bool, len(n.Addresses))
	for i, a := range n.Addresses {
		p, err := netip.ParsePrefix(a.CIDR)
		switch {
		case err != nil:
			bad("addresses[%d]: parse cidr %q: %w", i, a.CIDR, err)
		case !declared[a.Link]:
			bad("addresses[%d]: link %q is not declared", i, a.Link)
		case seenAddr[AddressSpec{a.Link, p}]:
			bad("addresses[%d]: duplicate address %s on %s", i, p, a.Link)
		default:
			s := AddressSpec{Link: a.Link, Prefix: p}
			seenAddr[s] = true
			d.Addresses = append(d.Addresses, s)
		}
	}

	seenRoute := make(map[routeKey]bool, len(n.Routes))
	for i, r := range n.Routes {
		s, err := parseRoute(r, declared)
		if err != nil {
			bad("routes[%d]: %w", i, err)
			continue
		}
		if seenRoute[s.key()] {
			bad("routes[%d]: duplicate route to %s metric %d", i, s.Dst, r.Metric)
			continue
		}
		seenRoute[s.key()] = true
		d.Routes = append(d.Routes, s)
	}
	if err := errors.Join(errs...); err != nil {
		return Desired{}, err
	}
	return d, nil
}

func parseRoute(r config.Route, declared map[string]bool) (RouteSpec, error) {
	if !declared[r.Link] {
		return RouteSpec{}, fmt.Errorf("link %q is not declared", r.Link)
	}
	dst, err := netip.ParsePrefix(r.Dst)
	if err != nil {
		return RouteSpec{}, fmt.Errorf("parse dst %q: %w", r.Dst, err)
	}
	if dst.Masked() != dst {
		return RouteSpec{}, fmt.Errorf("dst %s has host bits set", dst)
	}
	s := RouteSpec{Link: r.Link, Dst: dst, Metric: r.Metric}
	if r.Gateway == "" {
		return s, nil
	}
	gw, err := netip.ParseAddr(r.Gateway)
	if err != nil {
		return RouteSpec{}, fmt.Errorf("parse gateway %q: %w", r.Gateway, err)
	}
	if gw.Is4() != dst.Addr().Is4() {
		return RouteSpec{}, fmt.Errorf("gateway %s and dst %s are of different families", gw, dst)
	}
	s.Gateway = gw
	return s, nil
}

// routeKey is how the kernel tells main-table routes apart: the destination
// and the effective metric (IPv6 turns metric 0 into 1024).
type routeKey struct {
	Dst    netip.Prefix
	Metric uint32
}

func (r RouteSpec) key() routeKey {
	return routeKey{Dst: r.Dst, Metric: effectiveMetric(r.Dst, r.Metric)}
}

// ipv6DefaultMetric is IP6_RT_PRIO_USER, the metric the kernel gives an IPv6
// route added with none.
const ipv6DefaultMetric = 1024

func effectiveMetric(dst netip.Prefix, m uint32) uint32 {
	if m == 0 && dst.Addr().Is6() {
		return ipv6DefaultMetric
	}
	return m
}

// Retain returns the spec to pass as prev to the next Apply. After a clean
// Apply that is next. After a failed one it is next plus every address and
// route of prev that next dropped, so that a removal that failed is retried
// rather than forgotten (a leaked address would otherwise be owned by no one).
func Retain(prev, next Desired, applyErr error) Desired {
	if applyErr == nil {
		return next
	}
	out := next
	out.Addresses = append([]AddressSpec(nil), next.Addresses...)
	out.Routes = append([]RouteSpec(nil), next.Routes...)
	haveAddr := make(map[AddressSpec]bool, len(next.Addresses))
	for _, a := range next.Addresses {
		haveAddr[a] = true
	}
	for _, a := range prev.Addresses {
		if !haveAddr[a] {
			haveAddr[a] = true
			out.Addresses = append(out.Addresses, a)
		}
	}
	haveRoute := make(map[RouteSpec]bool, len(next.Routes))
	for _, r := range next.Routes {
		haveRoute[r] = true
	}
	for _, r := range prev.Routes {
		if !haveRoute[r] {
			haveRoute[r] = true
			out.Routes = append(out.Routes, r)
		}
	}
	return out
}
