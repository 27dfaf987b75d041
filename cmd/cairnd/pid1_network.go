package main

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/network"
)

// applyBootNetwork applies the node's own network (its links, addresses
// and routes in the config it booted with) before the node starts. The
// node binds gossip and Raft to its configured address, and a control
// plane's config source reads the cluster's config through the node API
// at that address, so the network controllers, which take their spec from
// that config, cannot be what first brings the address up: on a VM whose
// links start down the node would otherwise fail to bind, or wait forever
// for a config it cannot reach. The controllers converge to the same
// state afterwards and own it from then on (node/machine/network: what
// they did not apply is never removed).
func applyBootNetwork(ctx context.Context, n config.NodeNetwork) (string, error) {
	desired, err := network.DesiredFrom(n)
	if err != nil {
		return "", err
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return "", fmt.Errorf("open netlink: %w", err)
	}
	defer h.Close()
	changes, err := network.Apply(ctx, h, network.Desired{}, desired)
	return fmt.Sprintf("%d changes", len(changes)), err
}
