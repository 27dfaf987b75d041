package controllers

import (
	"context"
	"fmt"

	"github.com/cairn-project/cairn/node/machine/network"
	"github.com/cairn-project/cairn/node/runtime"
)

// NetworkSpec produces NetworkSpec/desired: this node's network section of
// the cluster config, parsed. It only translates; it never touches the kernel.
type NetworkSpec struct {
	// NodeName selects this node's entry in the config.
	NodeName string
}

// Name implements runtime.Controller.
func (c *NetworkSpec) Name() string { return "network-spec" }

// Inputs implements runtime.Controller.
func (c *NetworkSpec) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeClusterConfig, ID: IDCluster}}
}

// Outputs implements runtime.Controller.
func (c *NetworkSpec) Outputs() []string { return []string{TypeNetworkSpec} }

// Run implements runtime.Controller.
func (c *NetworkSpec) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	spec, n, received, err := nodeEntry(r, c.NodeName)
	if err != nil || !received {
		return err
	}
	var desired network.Desired
	if n != nil {
		if desired, err = network.DesiredFrom(n.Network); err != nil {
			return fmt.Errorf("network of %s at revision %d: %w", c.NodeName, spec.Revision, err)
		}
	}
	return w.Put(TypeNetworkSpec, IDDesired, NetworkSpecSpec{Revision: spec.Revision, Desired: desired}, nil)
}
