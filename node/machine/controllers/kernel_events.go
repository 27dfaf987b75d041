package controllers

import (
	"context"
	"fmt"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/cairn-project/cairn/node/runtime"
)

// KernelEvents is the source of KernelNetworkEvents/netlink: a counter
// bumped on every netlink link, address or route notification, which wakes
// the observers (NetworkObserve) so they read the kernel again. It runs in
// every mode: observing needs no privilege.
type KernelEvents struct{}

// Name implements runtime.Source.
func (KernelEvents) Name() string { return "kernel-events" }

// Outputs implements runtime.Source.
func (KernelEvents) Outputs() []string { return []string{TypeKernelEvents} }

// Run implements runtime.Source: subscribe, then count notifications until
// ctx ends.
func (KernelEvents) Run(ctx context.Context, w runtime.Writer) error {
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
	// Start past any value an earlier run wrote, so its first notification
	// is a change (an equal write would wake nobody).
	seq := uint64(time.Now().UnixNano())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-links:
		case <-addrs:
		case <-routes:
		}
		seq++
		if err := w.Put(TypeKernelEvents, IDNetlink, KernelEventsSpec{Seq: seq}, nil); err != nil {
			return err
		}
	}
}
