package controllers

import (
	"errors"
	"fmt"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/runtime"
)

// nodeEntry reads the cluster config this node received and its entry
// named name, for the controllers that turn one section of the entry into
// specs. received is false while no config has arrived; entry is nil when
// the config has no entry of that name.
func nodeEntry(r runtime.Reader, name string) (spec ClusterConfigSpec, entry *config.Node, received bool, err error) {
	res, err := r.Get(TypeClusterConfig, IDCluster)
	if errors.Is(err, runtime.ErrNotFound) {
		return ClusterConfigSpec{}, nil, false, nil
	}
	if err != nil {
		return ClusterConfigSpec{}, nil, false, err
	}
	spec, ok := res.Spec.(ClusterConfigSpec)
	if !ok {
		return ClusterConfigSpec{}, nil, false, fmt.Errorf("cluster config resource holds %T", res.Spec)
	}
	for i := range spec.Config.Nodes {
		if spec.Config.Nodes[i].Name == name {
			return spec, &spec.Config.Nodes[i], true, nil
		}
	}
	return spec, nil, true, nil
}
