package controllers

import (
	"errors"
	"fmt"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/runtime"
)

// ReceivedConfig reads the cluster config this node received (the
// ClusterConfig resource) from a controller's Reader or the node's state;
// received is false while none has arrived.
func ReceivedConfig(g interface {
	Get(typ, id string) (runtime.Resource, error)
}) (spec ClusterConfigSpec, received bool, err error) {
	res, err := g.Get(TypeClusterConfig, IDCluster)
	if errors.Is(err, runtime.ErrNotFound) {
		return ClusterConfigSpec{}, false, nil
	}
	if err != nil {
		return ClusterConfigSpec{}, false, err
	}
	spec, ok := res.Spec.(ClusterConfigSpec)
	if !ok || spec.Config == nil {
		return ClusterConfigSpec{}, false, fmt.Errorf("cluster config resource holds %T", res.Spec)
	}
	return spec, true, nil
}

// nodeEntry reads the cluster config this node received and its entry
// named name, for the controllers that turn one section of the entry into
// specs. received is false while no config has arrived; entry is nil when
// the config has no entry of that name.
func nodeEntry(r runtime.Reader, name string) (spec ClusterConfigSpec, entry *config.Node, received bool, err error) {
	spec, received, err = ReceivedConfig(r)
	if err != nil || !received {
		return ClusterConfigSpec{}, nil, false, err
	}
	for i := range spec.Config.Nodes {
		if spec.Config.Nodes[i].Name == name {
			return spec, &spec.Config.Nodes[i], true, nil
		}
	}
	return spec, nil, true, nil
}
