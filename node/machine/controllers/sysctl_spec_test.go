package controllers

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/runtime"
)

func sysctlNode(name string, sysctls map[string]string) config.Node {
	return config.Node{Name: name, Kernel: config.NodeKernel{Sysctls: sysctls}}
}

// This node's sysctls become one spec each; a changed value changes its
// spec and a dropped key loses it; other nodes' entries do not count.
func TestSysctlSpecsFollowThisNodesEntry(t *testing.T) {
	st := runtime.NewState()
	start(t, st, &SysctlSpecs{NodeName: "n1"})
	specs := func() map[string]string {
		out := map[string]string{}
		for _, r := range st.List(TypeSysctlSpec) {
			out[r.ID] = r.Spec.(SysctlSpecSpec).Value
		}
		return out
	}
	putConfig(t, st, 1,
		sysctlNode("n0", map[string]string{"kernel.pid_max": "4194304"}),
		sysctlNode("n1", map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.conf.eth0/100.forwarding": "1"}),
	)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.conf.eth0/100.forwarding": "1"}, specs())
	}, 5*time.Second, time.Millisecond)

	putConfig(t, st, 2, sysctlNode("n1", map[string]string{"net.ipv4.ip_forward": "0"}))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, map[string]string{"net.ipv4.ip_forward": "0"}, specs())
	}, 5*time.Second, time.Millisecond)

	putConfig(t, st, 3, sysctlNode("n1", nil))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Empty(ct, specs())
	}, 5*time.Second, time.Millisecond)
}
