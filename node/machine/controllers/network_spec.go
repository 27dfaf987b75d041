package controllers

import (
	"context"
	"errors"
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
	res, err := r.Get(TypeClusterConfig, IDCluster)
	if errors.Is(err, runtime.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	spec, ok := res.Spec.(ClusterConfigSpec)
	if !ok {
		return fmt.Errorf("cluster config resource holds %T", res.Spec)
	}
	var desired network.Desired
	for _, n := range spec.Config.Nodes {
		if n.Name == c.NodeName {
			if desired, err = network.DesiredFrom(n.Network); err != nil {
				return fmt.Errorf("network of %s at revision %d: %w", c.NodeName, spec.Revision, err)
			}
		}
	}
	return w.Put(TypeNetworkSpec, IDDesired, NetworkSpecSpec{Revision: spec.Revision, Desired: desired}, nil)
}
