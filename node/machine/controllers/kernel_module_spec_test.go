package controllers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/runtime"
)

// This node's modules from the config, plus the image's, become specs; a
// module dropped from the config loses its spec.
func TestKernelModuleSpecsFollowThisNodesEntry(t *testing.T) {
	st := runtime.NewState()
	start(t, st, &KernelModuleSpecs{NodeName: "n1", Image: []string{"virtio_net"}})
	putConfig(t, st, 1,
		config.Node{Name: "n0", Kernel: config.NodeKernel{Modules: []config.KernelModule{{Name: "xt_set"}}}},
		config.Node{Name: "n1", Kernel: config.NodeKernel{Modules: []config.KernelModule{{Name: "br-netfilter"}, {Name: "overlay"}}}},
	)
	ids := func(ct require.TestingT) map[string]string {
		out := map[string]string{}
		for _, r := range st.List(TypeKernelModuleSpec) {
			out[r.ID] = r.Spec.(KernelModuleSpecSpec).Source
		}
		return out
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, map[string]string{"virtio_net": "image", "br_netfilter": "config", "overlay": "config"}, ids(ct))
	}, 5*time.Second, time.Millisecond)

	putConfig(t, st, 2, config.Node{Name: "n1", Kernel: config.NodeKernel{Modules: []config.KernelModule{{Name: "overlay"}}}})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, map[string]string{"virtio_net": "image", "overlay": "config"}, ids(ct))
	}, 5*time.Second, time.Millisecond)
}
