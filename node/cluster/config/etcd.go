package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// EtcdSettingsHash names one set of cluster.etcd.extraArgs, in 12 hex
// digits: what the Raft leader grants each control plane in turn when the
// etcd section changes, and what a node reports once its member runs with
// it (an empty set has a hash too).
func EtcdSettingsHash(extraArgs map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(extraArgs)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(extraArgs[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// KubeControlPlaneSettingsHash names, in 12 hex digits, everything of the
// cluster config the Kubernetes control-plane components are started
// with on every control plane alike: cluster.kubernetes but its kubelet
// and kube-proxy sections, cluster.network and the cluster's name. The
// Raft leader rolls a change of it out one control plane at a time.
func KubeControlPlaneSettingsHash(c *Config) string {
	k := c.Cluster.Kubernetes
	k.Kubelet, k.Proxy = Kubelet{}, KubernetesComponent{}
	// encoding/json writes map keys sorted, so equal settings hash equal.
	raw, err := json.Marshal(struct {
		Name       string
		Kubernetes Kubernetes
		Network    ClusterNetwork
	}{c.Cluster.Name, k, c.Cluster.Network})
	if err != nil {
		panic(fmt.Sprintf("config: marshal Kubernetes settings: %v", err)) // plain data: cannot fail
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])[:12]
}

// KubeletSettingsHash is a short hash of what every kubelet of the
// cluster is configured from (cluster.kubernetes.kubelet and .proxy, the version,
// the cluster's network): the Raft leader rolls a change of it out one
// node at a time, as KubeControlPlaneSettingsHash for the control plane.
func KubeletSettingsHash(c *Config) string {
	k := c.Cluster.Kubernetes
	raw, err := json.Marshal(struct {
		Version string
		Kubelet Kubelet
		Proxy   KubernetesComponent
		Network ClusterNetwork
	}{k.Version, k.Kubelet, k.Proxy, c.Cluster.Network})
	if err != nil {
		panic(fmt.Sprintf("config: marshal kubelet settings: %v", err)) // plain data: cannot fail
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])[:12]
}
