package controllers

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/cairn-project/cairn/node/runtime"
)

// WatchKernel subscribes to netlink link, address and route notifications
// and counts them in KernelNetworkEvents/netlink, which wakes NetworkObserve.
// It is a source, not a controller: it writes from outside the runtime.
func WatchKernel(ctx context.Context, st *runtime.State) error {
	done := make(chan struct{})
	defer close(done)
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	if err := netlink.LinkSubscribe(links, done); err != nil {
		return fmt.Errorf("subscribe to links: %w", err)
	}
	if err := netlink.AddrSubscribe(addrs, done); err != nil {
		return fmt.Errorf("subscribe to addresses: %w", err)
	}
	if err := netlink.RouteSubscribe(routes, done); err != nil {
		return fmt.Errorf("subscribe to routes: %w", err)
	}
	var seq uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-links:
		case <-addrs:
		case <-routes:
		}
		seq++
		if _, err := st.Put(runtime.Resource{Type: TypeKernelEvents, ID: IDNetlink, Spec: KernelEventsSpec{Seq: seq}}); err != nil {
			return err
		}
	}
}
