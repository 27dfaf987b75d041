// Package podroutes is Cairn's pod network between nodes, without an
// overlay daemon: every node routes each other node's pod CIDR (which
// kube-controller-manager allocated and the node advertises in its gossip
// metadata) to that node's address, so a pod reaches a pod on another
// node through the nodes' own network. Routes are the main table's,
// marked with Protocol, so that the ones Cairn no longer wants (a node
// gone, its CIDR changed) are found and removed and nobody else's are
// touched. Only nodes on one link-layer network (one Docker network, one
// subnet of VMs) can be routed this way: the gateway must be on link.
package podroutes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Protocol marks the routes this package owns (rtnetlink's protocol
// field; values above RTPROT_STATIC's are free for routing daemons).
const Protocol netlink.RouteProtocol = 0xCA

// Peer is another node's pod network: its CIDR and the address that
// reaches it.
type Peer struct {
	Name    string
	PodCIDR netip.Prefix
	Via     netip.Addr
}

// Want turns advertised (name → pod CIDR, address) into the routes a node
// wants: every valid IPv4 peer but itself, one route per CIDR (the first
// name in order wins a CIDR two nodes claim, so the outcome does not
// depend on gossip's order), sorted.
func Want(self string, peers []Peer) []Peer {
	slices.SortFunc(peers, func(a, b Peer) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	seen := map[netip.Prefix]bool{}
	var out []Peer
	for _, p := range peers {
		if p.Name == self || !p.PodCIDR.IsValid() || !p.Via.Is4() || !p.PodCIDR.Addr().Is4() || seen[p.PodCIDR.Masked()] {
			continue
		}
		p.PodCIDR = p.PodCIDR.Masked()
		seen[p.PodCIDR] = true
		out = append(out, p)
	}
	return out
}

// Apply converges the main table to want: replaces each wanted route
// (dst via gateway, Protocol), deletes Protocol routes not wanted. It
// keeps going past one failure and returns them all.
func Apply(h *netlink.Handle, want []Peer) error {
	have, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: Protocol, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list pod routes: %w", err)
	}
	wanted := map[string]bool{}
	var errs []error
	for _, p := range want {
		dst := &net.IPNet{IP: p.PodCIDR.Addr().AsSlice(), Mask: net.CIDRMask(p.PodCIDR.Bits(), 32)}
		wanted[dst.String()] = true
		r := &netlink.Route{Dst: dst, Gw: p.Via.AsSlice(), Protocol: Protocol, Table: unix.RT_TABLE_MAIN}
		if err := h.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("route %s via %s (%s): %w", p.PodCIDR, p.Via, p.Name, err))
		}
	}
	for _, r := range have {
		if r.Dst != nil && !wanted[r.Dst.String()] {
			if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("remove route %s: %w", r.Dst, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Loop applies Want(self, peers()) now, whenever kick fires, and every
// interval, logging a failure once per distinct error.
func Loop(ctx context.Context, self string, peers func() []Peer, kick <-chan struct{}, interval time.Duration, log *slog.Logger) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("pod routes: %w", err)
	}
	defer h.Close()
	t := time.NewTicker(interval)
	defer t.Stop()
	var last string
	var applied []Peer
	for {
		want := Want(self, peers())
		err := Apply(h, want)
		switch {
		case err != nil && err.Error() != last:
			log.Warn("pod routes", "error", err)
			last = err.Error()
		case err == nil && !slices.Equal(want, applied):
			log.Info("pod routes", "routes", len(want))
			last, applied = "", want
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-t.C:
		}
	}
}
