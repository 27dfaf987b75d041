package controllers

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/machine/network"
	"github.com/cairn-project/cairn/node/runtime"
)

// NetworkObserve produces the links, addresses and routes resources: the
// kernel's network state as it is, whoever configured it. It is the status
// controller: it observes and publishes, it never applies. It runs after
// every apply and on every kernel notification (KernelEvents).
type NetworkObserve struct{}

// Name implements runtime.Controller.
func (c *NetworkObserve) Name() string { return "network-observe" }

// Inputs implements runtime.Controller.
func (c *NetworkObserve) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeNetworkStatus, ID: IDStatus}, {Type: TypeKernelEvents, ID: IDNetlink}}
}

// Outputs implements runtime.Controller.
func (c *NetworkObserve) Outputs() []string { return []string{TypeLinks, TypeAddresses, TypeRoutes} }

// Run implements runtime.Controller. Objects that disappeared from the
// kernel disappear from the state too: the runtime deletes outputs a pass
// did not write.
func (c *NetworkObserve) Run(_ context.Context, _ runtime.Reader, w runtime.Writer) error {
	// Route sockets only: NewHandle() with no family also opens xfrm and
	// netfilter sockets, which fail (EPROTONOSUPPORT) on a kernel whose
	// xfrm_user module is not loaded, such as a Cairn VM's.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	defer h.Close()
	obs, err := network.Observe(h)
	if err != nil {
		return err
	}
	for _, l := range obs.Links {
		if err := w.Put(TypeLinks, l.Name, l, nil); err != nil {
			return err
		}
	}
	for _, a := range obs.Addresses {
		if err := w.Put(TypeAddresses, a.Link+"/"+a.Prefix.String(), a, nil); err != nil {
			return err
		}
	}
	for _, r := range obs.Routes {
		id := fmt.Sprintf("%s/%s", r.Link, r.Dst)
		if r.Gateway.IsValid() {
			id += "/via/" + r.Gateway.String()
		}
		id += fmt.Sprintf("/%d", r.Metric)
		if err := w.Put(TypeRoutes, id, r, nil); err != nil {
			return err
		}
	}
	return nil
}
