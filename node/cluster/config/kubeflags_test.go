package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The table parses and holds every component Cairn configures, each with
// the flags Cairn itself sets (which the components must have) and the
// reserved ones.
func TestKubeFlagsTable(t *testing.T) {
	for component, reserved := range KubeReservedFlags {
		require.NotEmpty(t, kubeFlags()[component], component)
		for _, f := range reserved {
			_, ok := KubeFlagType(component, f)
			assert.True(t, ok, "%s has its reserved flag --%s", component, f)
		}
	}
	typ, ok := KubeFlagType(KubeAPIServer, "audit-log-maxage")
	assert.True(t, ok)
	assert.Equal(t, "int", typ)
	_, ok = KubeFlagType(KubeAPIServer, "no-such-flag")
	assert.False(t, ok)
}

func TestKubeExtraArgsAreCheckedAgainstTheComponents(t *testing.T) {
	c := fixture(t)
	c.Cluster.Kubernetes.APIServer.ExtraArgs = map[string]string{
		"no-such-flag": "1", "audit-log-maxage": "three", "profiling": "maybe", "audit-log-path": "/var/log/audit.log",
	}
	c.Cluster.Kubernetes.Scheduler.ExtraArgs = map[string]string{"v": "4", "kube-api-qps": "50.5"}
	c.Cluster.Kubernetes.ControllerManager.ExtraArgs = map[string]string{"node-monitor-grace-period": "40"}
	err := c.Validate()
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `cluster.kubernetes.apiServer.extraArgs["no-such-flag"]: kube-apiserver `+DefaultKubernetesVersion+` has no flag --no-such-flag`)
	assert.Contains(t, msg, `cluster.kubernetes.apiServer.extraArgs["audit-log-maxage"]: --audit-log-maxage takes a int, got "three"`)
	assert.Contains(t, msg, `cluster.kubernetes.apiServer.extraArgs["profiling"]: --profiling takes a bool, got "maybe"`)
	assert.Contains(t, msg, `cluster.kubernetes.controllerManager.extraArgs["node-monitor-grace-period"]: --node-monitor-grace-period takes a duration, got "40"`)
	assert.NotContains(t, msg, "audit-log-path")
	assert.NotContains(t, msg, "scheduler")
}

func TestKubeControlPlaneSettingsHash(t *testing.T) {
	c := fixture(t)
	base := KubeControlPlaneSettingsHash(c)
	assert.Len(t, base, 12)
	c.Cluster.Kubernetes.Kubelet.MaxPods = 50
	c.Cluster.Kubernetes.Proxy.ExtraArgs = map[string]string{"v": "2"}
	c.Nodes[0].CertSANs = []string{"extra.example"}
	assert.Equal(t, base, KubeControlPlaneSettingsHash(c), "kubelet, kube-proxy and node entries are not the control plane's")
	c.Cluster.Kubernetes.APIServer.ExtraArgs = map[string]string{"audit-log-maxage": "3"}
	changed := KubeControlPlaneSettingsHash(c)
	assert.NotEqual(t, base, changed)
	c.Cluster.Kubernetes.APIServer.ExtraArgs = map[string]string{"audit-log-maxage": "3"}
	assert.Equal(t, changed, KubeControlPlaneSettingsHash(c))
	c.Cluster.Network.ServiceCIDR = "10.97.0.0/16"
	assert.NotEqual(t, changed, KubeControlPlaneSettingsHash(c))
}
