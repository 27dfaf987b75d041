package pid1

import (
	"fmt"

	"github.com/vishvananda/netlink"
)

// LoopbackUp sets lo up: the kernel creates it down, and the node's API
// clients, etcd and kubelet talk to 127.0.0.1. h is the namespace to act
// in; nil means this process's.
func LoopbackUp(h *netlink.Handle) error {
	if h == nil {
		h = &netlink.Handle{}
	}
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}
