package bootcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HostNet is the static address of a VM's host-forward NIC: QEMU's
// user-mode NIC, through which host-side tools reach the node's API
// (hostfwd to 10.0.2.15). It is applied before anything else and outside
// the cluster config, because every VM has the same slirp address there
// and the config forbids duplicate addresses; the network controllers
// leave the link alone, as they leave every link and address the config
// does not name (node/machine/network/DESIGN.md, "Ownership").
type HostNet struct {
	MAC     net.HardwareAddr `json:"mac"`
	Address netip.Prefix     `json:"address"`
	// Gateway, if valid, gets a default route at HostNetMetric.
	Gateway netip.Addr `json:"gateway,omitzero"`
}

// HostNetMetric is the metric of the host NIC's default route: above the
// config's routes (metric 0 unless set), so it is only a fallback, and a
// different route identity (destination and metric) from theirs, so a
// config default route never replaces it.
const HostNetMetric = 4096

// String is hn as cairn.hostnet= takes it.
func (hn HostNet) String() string {
	s := hn.MAC.String() + "," + hn.Address.String()
	if hn.Gateway.IsValid() {
		s += "," + hn.Gateway.String()
	}
	return s
}

// ParseHostNet parses cairn.hostnet=MAC,CIDR[,GATEWAY], such as
// 52:54:00:12:34:56,10.0.2.15/24,10.0.2.2.
func ParseHostNet(s string) (HostNet, error) {
	bad := func(why string) (HostNet, error) {
		return HostNet{}, fmt.Errorf("%w: %s=%q: %s (want MAC,CIDR[,GATEWAY])", ErrBadArgument, ArgHostNet, s, why)
	}
	parts := strings.Split(s, ",")
	if len(parts) < 2 || len(parts) > 3 {
		return bad("wrong number of fields")
	}
	mac, err := net.ParseMAC(parts[0])
	if err != nil || len(mac) != 6 {
		return bad("bad MAC")
	}
	pfx, err := netip.ParsePrefix(parts[1])
	if err != nil {
		return bad("bad CIDR")
	}
	hn := HostNet{MAC: mac, Address: pfx}
	if len(parts) == 3 {
		gw, err := netip.ParseAddr(parts[2])
		if err != nil || gw.Is4() != pfx.Addr().Is4() || !pfx.Masked().Contains(gw) {
			return bad("bad gateway: not an address in the CIDR")
		}
		hn.Gateway = gw
	}
	return hn, nil
}

// ApplyHostNet finds the link with hn's MAC, sets it up, adds the address
// and, with a gateway, a default route at HostNetMetric. It is idempotent
// (an address or route already there is success). h is the namespace to
// act in; nil means this process's.
func ApplyHostNet(h *netlink.Handle, hn HostNet) error {
	if h == nil {
		h = &netlink.Handle{}
	}
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("host NIC: list links: %w", err)
	}
	var link netlink.Link
	for _, l := range links {
		if l.Attrs().HardwareAddr.String() == hn.MAC.String() {
			link = l
			break
		}
	}
	if link == nil {
		return fmt.Errorf("host NIC: no link with MAC %s", hn.MAC)
	}
	name := link.Attrs().Name
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("host NIC %s: set up: %w", name, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: hn.Address.Addr().AsSlice(), Mask: net.CIDRMask(hn.Address.Bits(), hn.Address.Addr().BitLen())}}
	if err := h.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("host NIC %s: add %s: %w", name, hn.Address, err)
	}
	if !hn.Gateway.IsValid() {
		return nil
	}
	dst := &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}
	if hn.Gateway.Is6() {
		dst = &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
	}
	r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst, Gw: hn.Gateway.AsSlice(), Priority: HostNetMetric}
	if err := h.RouteReplace(r); err != nil {
		return fmt.Errorf("host NIC %s: default route via %s: %w", name, hn.Gateway, err)
	}
	return nil
}
