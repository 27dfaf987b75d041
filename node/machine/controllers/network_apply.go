package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cairn-project/cairn/node/machine/network"
	"github.com/cairn-project/cairn/node/runtime"
)

// NetworkApply produces NetworkStatus/status by converging the kernel to
// NetworkSpec/desired: links, addresses and routes (the hostname, which is
// not behind netlink, is the Hostname controller's). It is the
// spec controller: it applies and records what it did, it never publishes
// observations (NetworkObserve does). With Apply false (process mode) it only
// plans and reports what it would change.
type NetworkApply struct {
	Apply  bool
	Logger *slog.Logger
}

// Name implements runtime.Controller.
func (c *NetworkApply) Name() string { return "network-apply" }

// Inputs implements runtime.Controller.
func (c *NetworkApply) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeNetworkSpec, ID: IDDesired}}
}

// Outputs implements runtime.Controller.
func (c *NetworkApply) Outputs() []string { return []string{TypeNetworkStatus} }

// Run implements runtime.Controller.
func (c *NetworkApply) Run(ctx context.Context, r runtime.Reader, w runtime.Writer) error {
	res, err := r.Get(TypeNetworkSpec, IDDesired)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	spec, ok := res.Spec.(NetworkSpecSpec)
	if !ok {
		return fmt.Errorf("network spec resource holds %T", res.Spec)
	}
	// What we own in the kernel survives restarts of the pass through our
	// own output (a controller may read its outputs).
	var prev network.Desired
	if cur, err := r.Get(TypeNetworkStatus, IDStatus); err == nil {
		if st, ok := cur.Spec.(NetworkStatusSpec); ok {
			prev = st.Managed
		}
	}
	// Route sockets only: NewHandle() with no family also opens xfrm and
	// netfilter sockets, which fail (EPROTONOSUPPORT) on a kernel whose
	// xfrm_user module is not loaded, such as a Cairn VM's.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	defer h.Close()

	status := NetworkStatusSpec{Revision: spec.Revision, Mode: "planned"}
	var changes network.Changes
	if c.Apply {
		status.Mode = "applied"
		changes, err = network.Apply(ctx, h, prev, spec.Desired)
		status.Managed = network.Retain(prev, spec.Desired, err)
	} else {
		changes, err = network.Plan(ctx, h, prev, spec.Desired)
		status.Managed = prev
	}
	status.Changes = changes.Strings()
	if err != nil {
		status.Error = err.Error()
	}
	if len(changes) > 0 && c.Logger != nil {
		c.Logger.Info("network converged", "mode", status.Mode, "revision", spec.Revision, "changes", status.Changes)
	}
	if werr := w.Put(TypeNetworkStatus, IDStatus, status, nil); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}
