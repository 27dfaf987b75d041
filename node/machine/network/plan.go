package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// errNothingToDo is returned by a step whose object turned out to be in the
// wanted state already (EEXIST on add, ENOENT on remove): the kernel changed
// between Observe and the step. The step succeeded, but it made no change.
var errNothingToDo = errors.New("nothing to do")

// step is one planned kernel operation.
type step struct {
	change Change
	do     func(h *netlink.Handle) error
}

// planner computes the steps that take the observed state to next, given
// that everything in prev and next is Cairn's to manage.
type planner struct {
	obs    Observed
	prev   Desired
	next   Desired
	links  map[string]LinkStatus
	addrs  map[AddressSpec]bool
	routes map[routeKey][]RouteStatus
	errs   []error
	lost   map[string]bool
}

// diff returns the steps in execution order and the problems found (links
// that do not exist), joined. Objects on missing links are skipped.
//
// The order matters because the kernel has side effects: removing the last
// IPv4 address of a link flushes every route on it, so addresses are added
// before stale ones are removed, except an IPv6 address whose prefix length
// changes (IPv6 knows an address by its IP alone, so the old one must go
// first). Routes are removed before addresses and added last, once their
// gateways are reachable.
func diff(obs Observed, prev, next Desired) ([]step, error) {
	p := &planner{
		obs: obs, prev: prev, next: next,
		links:  make(map[string]LinkStatus, len(obs.Links)),
		addrs:  make(map[AddressSpec]bool, len(obs.Addresses)),
		routes: make(map[routeKey][]RouteStatus, len(obs.Routes)),
		lost:   make(map[string]bool),
	}
	for _, l := range obs.Links {
		p.links[l.Name] = l
	}
	for _, a := range obs.Addresses {
		p.addrs[AddressSpec(a)] = true
	}
	for _, r := range obs.Routes {
		k := routeKey{Dst: r.Dst, Metric: r.Metric}
		p.routes[k] = append(p.routes[k], r)
	}
	early, late := p.addressRemovals()
	var steps []step
	steps = append(steps, p.linkSteps()...)
	steps = append(steps, p.routeRemovals()...)
	steps = append(steps, early...)
	steps = append(steps, p.addressAdds()...)
	steps = append(steps, late...)
	steps = append(steps, p.routeReplaces()...)
	return steps, errors.Join(p.errs...)
}

// link returns the device for name, recording ErrLinkNotFound once per name
// when it is missing and report is set.
func (p *planner) link(name string, report bool) (netlink.Link, bool) {
	l, ok := p.links[name]
	if !ok {
		if report && !p.lost[name] {
			p.lost[name] = true
			p.errs = append(p.errs, fmt.Errorf("find link %s: %w", name, ErrLinkNotFound))
		}
		return nil, false
	}
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: l.Index, Name: l.Name}}, true
}

func (p *planner) linkSteps() []step {
	var steps []step
	for _, want := range p.next.Links {
		dev, ok := p.link(want.Name, true)
		if !ok {
			continue
		}
		have := p.links[want.Name]
		if want.MTU != 0 && want.MTU != have.MTU {
			mtu := want.MTU
			steps = append(steps, step{
				change: Change{Kind: KindLink, Action: ActionSet, Link: want.Name, Object: fmt.Sprintf("mtu %d", mtu)},
				do: func(h *netlink.Handle) error {
					if err := h.LinkSetMTU(dev, mtu); err != nil {
						return fmt.Errorf("set mtu %d on %s: %w", mtu, dev.Attrs().Name, err)
					}
					return nil
				},
			})
		}
		switch {
		case want.State == LinkStateUp && !have.Up:
			steps = append(steps, linkStateStep(dev, "up", (*netlink.Handle).LinkSetUp))
		case want.State == LinkStateDown && have.Up:
			steps = append(steps, linkStateStep(dev, "down", (*netlink.Handle).LinkSetDown))
		}
	}
	return steps
}

func linkStateStep(dev netlink.Link, state string, set func(*netlink.Handle, netlink.Link) error) step {
	return step{
		change: Change{Kind: KindLink, Action: ActionSet, Link: dev.Attrs().Name, Object: state},
		do: func(h *netlink.Handle) error {
			if err := set(h, dev); err != nil {
				return fmt.Errorf("set link %s %s: %w", dev.Attrs().Name, state, err)
			}
			return nil
		},
	}
}

// addressRemovals plans the removal of addresses that prev owned and next
// dropped. early holds the IPv6 ones whose IP next still wants with another
// prefix length; late holds the rest.
func (p *planner) addressRemovals() (early, late []step) {
	wanted := make(map[AddressSpec]bool, len(p.next.Addresses))
	wantedV6 := make(map[linkAddr]bool)
	for _, a := range p.next.Addresses {
		wanted[a] = true
		if a.Prefix.Addr().Is6() {
			wantedV6[linkAddr{a.Link, a.Prefix.Addr()}] = true
		}
	}
	for _, a := range p.prev.Addresses {
		if wanted[a] || !p.addrs[a] {
			continue
		}
		dev, ok := p.link(a.Link, false)
		if !ok {
			continue
		}
		s := addressStep(dev, a, ActionRemove)
		if wantedV6[linkAddr{a.Link, a.Prefix.Addr()}] {
			early = append(early, s)
		} else {
			late = append(late, s)
		}
	}
	return early, late
}

type linkAddr struct {
	link string
	addr netip.Addr
}

func (p *planner) addressAdds() []step {
	var steps []step
	for _, a := range p.next.Addresses {
		if p.addrs[a] {
			continue
		}
		dev, ok := p.link(a.Link, true)
		if !ok {
			continue
		}
		steps = append(steps, addressStep(dev, a, ActionAdd))
	}
	return steps
}

func addressStep(dev netlink.Link, a AddressSpec, action Action) step {
	addr := &netlink.Addr{IPNet: ipNet(a.Prefix)}
	return step{
		change: Change{Kind: KindAddress, Action: action, Link: a.Link, Object: a.Prefix.String()},
		do: func(h *netlink.Handle) error {
			if action == ActionAdd {
				err := h.AddrAdd(dev, addr)
				if errors.Is(err, unix.EEXIST) {
					return errNothingToDo
				}
				if err != nil {
					return fmt.Errorf("add address %s to %s: %w", a.Prefix, a.Link, err)
				}
				return nil
			}
			err := h.AddrDel(dev, addr)
			if isGone(err) {
				return errNothingToDo
			}
			if err != nil {
				return fmt.Errorf("remove address %s from %s: %w", a.Prefix, a.Link, err)
			}
			return nil
		},
	}
}

// routeRemovals plans the removal of routes that prev owned and next
// dropped. A route is removed only while it still is the one Cairn installed
// (same link, gateway and protocol); one that someone else replaced since is
// no longer Cairn's.
func (p *planner) routeRemovals() []step {
	wanted := make(map[routeKey]bool, len(p.next.Routes))
	for _, r := range p.next.Routes {
		wanted[r.key()] = true
	}
	var steps []step
	for _, r := range p.prev.Routes {
		if wanted[r.key()] || !p.installed(r, true) {
			continue
		}
		dev, ok := p.link(r.Link, false)
		if !ok {
			continue
		}
		kr := kernelRoute(r, dev.Attrs().Index)
		steps = append(steps, step{
			change: Change{Kind: KindRoute, Action: ActionRemove, Link: r.Link, Object: r.String()},
			do: func(h *netlink.Handle) error {
				err := h.RouteDel(kr)
				if isGone(err) {
					return errNothingToDo
				}
				if err != nil {
					return fmt.Errorf("remove route %s from %s: %w", r, r.Link, err)
				}
				return nil
			},
		})
	}
	return steps
}

func (p *planner) routeReplaces() []step {
	var steps []step
	for _, r := range p.next.Routes {
		if p.installed(r, false) {
			continue
		}
		dev, ok := p.link(r.Link, true)
		if !ok {
			continue
		}
		kr := kernelRoute(r, dev.Attrs().Index)
		steps = append(steps, step{
			change: Change{Kind: KindRoute, Action: ActionReplace, Link: r.Link, Object: r.String()},
			do: func(h *netlink.Handle) error {
				if err := h.RouteReplace(kr); err != nil {
					return fmt.Errorf("replace route %s on %s: %w", r, r.Link, err)
				}
				return nil
			},
		})
	}
	return steps
}

// installed reports whether the kernel has r: same destination, metric, link
// and gateway. With ours set, the route must also carry the protocol Apply
// installs with, so that a connected route the kernel made is never removed.
func (p *planner) installed(r RouteSpec, ours bool) bool {
	for _, have := range p.routes[r.key()] {
		if have.Link != r.Link || have.Gateway != r.Gateway {
			continue
		}
		if !ours || have.Protocol == unix.RTPROT_STATIC {
			return true
		}
	}
	return false
}

// kernelRoute builds the netlink route for r, identical for replace and
// delete: the kernel matches a delete on scope and protocol too.
func kernelRoute(r RouteSpec, linkIndex int) *netlink.Route {
	kr := &netlink.Route{
		LinkIndex: linkIndex,
		Dst:       ipNet(r.Dst),
		Priority:  int(effectiveMetric(r.Dst, r.Metric)),
		Table:     unix.RT_TABLE_MAIN,
		Protocol:  unix.RTPROT_STATIC,
		Scope:     netlink.SCOPE_UNIVERSE,
	}
	if r.Gateway.IsValid() {
		kr.Gw = r.Gateway.AsSlice()
	} else if r.Dst.Addr().Is4() {
		// What `ip route add PREFIX dev LINK` does: an on-link IPv4 route has
		// link scope.
		kr.Scope = netlink.SCOPE_LINK
	}
	return kr
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{
		IP:   p.Addr().AsSlice(),
		Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen()),
	}
}

// isGone reports whether a delete failed only because the object is
// already gone: IPv4 answers EADDRNOTAVAIL or ESRCH, IPv6 ENOENT, and a
// vanished link ENODEV.
func isGone(err error) bool {
	return errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ESRCH) ||
		errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV)
}
