package kube

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

// TestKubeletConfiguration: the settings follow the cluster config, and the
// ones a container on a cgroup v1 host needs are derived from the host,
// not fixed: a VM on a cgroup v2 kernel gets kubelet's defaults.
func TestKubeletConfiguration(t *testing.T) {
	l, in := testInputs(t)
	in.Config.Cluster.Kubernetes.Kubelet.MaxPods = 42
	k := Kubelet{Layout: l, Config: in.Config, Node: &in.Config.Nodes[3], IP: "127.0.77.4", Host: Host{InContainer: true, CgroupV1: true}}

	c, err := k.Configuration()
	require.NoError(t, err)
	assert.Equal(t, []string{"10.96.0.10"}, c.ClusterDNS, "the tenth address of the service range")
	assert.Equal(t, "cluster.local", c.ClusterDomain)
	assert.Equal(t, int32(42), c.MaxPods)
	assert.Equal(t, "unix:///run/containerd/containerd.sock", c.ContainerRuntimeEndpoint)
	assert.Equal(t, "cgroupfs", c.CgroupDriver)
	assert.Equal(t, filepath.Join(l.KubeletDir(), "ca.crt"), c.Authentication.X509.ClientCAFile)
	assert.False(t, *c.Authentication.Anonymous.Enabled)
	require.NotNil(t, c.FailCgroupV1)
	assert.False(t, *c.FailCgroupV1)
	require.NotNil(t, c.FailSwapOn)
	assert.False(t, *c.FailSwapOn)
	assert.Equal(t, int32(100), *c.ImageGCHighThresholdPercent)
	assert.Equal(t, "0%", c.EvictionHard["nodefs.available"])
	assert.Equal(t, "0%", c.EvictionHard["memory.available"])
	assert.Equal(t, int32(99), *c.ImageGCLowThresholdPercent)
	assert.Equal(t, l.KubeletDir()+"/pod-logs", c.PodLogsDir)
	require.NotNil(t, c.ResolverConfig)
	assert.Empty(t, *c.ResolverConfig, "Docker's resolv.conf names a DNS pods cannot reach")

	raw, err := k.ConfigYAML()
	require.NoError(t, err)
	var back kubeletv1beta1.KubeletConfiguration
	require.NoError(t, yaml.Unmarshal(raw, &back))
	assert.Equal(t, "kubelet.config.k8s.io/v1beta1", back.APIVersion)
	assert.Equal(t, "KubeletConfiguration", back.Kind)
	assert.Equal(t, int32(42), back.MaxPods)

	k.Host = Host{}
	c, err = k.Configuration()
	require.NoError(t, err)
	assert.Nil(t, c.FailCgroupV1, "kubelet's default on a cgroup v2 machine")
	assert.Nil(t, c.FailSwapOn)
	assert.Nil(t, c.ImageGCHighThresholdPercent)
	assert.Empty(t, c.EvictionHard)
	assert.Nil(t, c.ResolverConfig, "kubelet's default /etc/resolv.conf")

	k.Config.Cluster.Kubernetes.Kubelet.MaxPods = 0
	c, err = k.Configuration()
	require.NoError(t, err)
	assert.Zero(t, c.MaxPods, "kubelet's own default (110)")
}

func TestKubeletArgs(t *testing.T) {
	l, in := testInputs(t)
	in.Config.Cluster.Kubernetes.Kubelet.NodeLabels = map[string]string{"zone": "b", "example.com/tier": "web"}
	in.Config.Cluster.Kubernetes.Kubelet.ExtraArgs = map[string]string{"v": "2"}
	k := Kubelet{Layout: l, Config: in.Config, Node: &in.Config.Nodes[3], IP: "127.0.77.4"}
	args := k.Args()
	assert.Contains(t, args, "--node-labels=example.com/tier=web,zone=b")
	assert.Contains(t, args, "--hostname-override="+in.Config.Nodes[3].Name)
	assert.Contains(t, args, "--node-ip=127.0.77.4")
	assert.Contains(t, args, "--v=2")
	assert.Contains(t, args, "--config="+l.KubeletDir()+"/config.yaml")
}
