package controllers

import (
	"context"
	"fmt"

	"github.com/cairn-project/cairn/node/runtime"
)

// TypeKubeletStatus sums up this node's kubelet for operators, gossip and
// the cluster health check (ID "kubelet").
const TypeKubeletStatus = "KubeletStatus"

// KubeletStatusSpec is the spec of KubeletStatus/kubelet.
type KubeletStatusSpec struct {
	Phase string `json:"phase"`
	// Healthy: containerd and kubelet run and pass their health checks,
	// and Kubernetes has the node Ready. A disabled phase is healthy.
	Healthy bool   `json:"healthy"`
	Reason  string `json:"reason,omitempty"`
	// Ready is the Node's Ready condition; PodCIDR its pod network.
	Ready   bool   `json:"ready"`
	PodCIDR string `json:"podCIDR,omitempty"`
	// Settings are the kubelet settings a healthy kubelet runs with
	// (empty while it is not healthy), for the leader's rollout.
	Settings   string                `json:"settings,omitempty"`
	Pending    string                `json:"pendingSettings,omitempty"`
	Components []KubeComponentStatus `json:"components,omitempty"`
}

// KubeletStatus observes the node's Kubernetes runtime: the kubelet phase,
// the containerd and kubelet services, the Node as Kubernetes reports it.
type KubeletStatus struct{}

// Name implements runtime.Controller.
func (c *KubeletStatus) Name() string { return "kubelet-status" }

// Inputs implements runtime.Controller.
func (c *KubeletStatus) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeKubeletPhase, ID: IDKubelet}, {Type: TypePodNetwork, ID: IDKubelet},
		{Type: TypeServiceStatus, ID: ServiceContainerd}, {Type: TypeServiceStatus, ID: ServiceKubelet}, {Type: TypeServiceStatus, ID: ServiceKubeProxy}}
}

// Outputs implements runtime.Controller.
func (c *KubeletStatus) Outputs() []string { return []string{TypeKubeletStatus} }

// Run implements runtime.Controller.
func (c *KubeletStatus) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	ph, ok, err := getSpec[KubeletPhaseSpec](r, TypeKubeletPhase, IDKubelet)
	if err != nil || !ok {
		return err
	}
	pn, _, err := getSpec[PodNetworkSpec](r, TypePodNetwork, IDKubelet)
	if err != nil {
		return err
	}
	out := KubeletStatusSpec{Phase: ph.Phase, Ready: pn.Ready, PodCIDR: pn.PodCIDR, Pending: ph.Pending}
	if ph.Phase == KubeletPhaseDisabled {
		out.Healthy = true
		return w.Put(TypeKubeletStatus, IDKubelet, out, nil)
	}
	if ph.Phase != KubeletPhaseRunning {
		out.Reason = ph.Reason
		return w.Put(TypeKubeletStatus, IDKubelet, out, nil)
	}
	healthy := true
	for _, name := range []string{ServiceContainerd, ServiceKubelet, ServiceKubeProxy} {
		st, ok, err := getSpec[ServiceStatusSpec](r, TypeServiceStatus, name)
		if err != nil {
			return err
		}
		comp := KubeComponentStatus{Name: name, State: st.State, Restarts: st.Restarts, Message: st.Message}
		comp.Healthy = ok && st.State == "running" && (st.Health == "" || st.Health == "healthy")
		if !comp.Healthy && out.Reason == "" {
			out.Reason = fmt.Sprintf("%s is %s", name, kubeletServiceState(ok, st))
		}
		healthy = healthy && comp.Healthy
		out.Components = append(out.Components, comp)
	}
	switch {
	case !healthy:
	case !pn.Registered:
		healthy, out.Reason = false, "kubelet has not registered the node yet"
	case !pn.Ready:
		healthy, out.Reason = false, "the node is not Ready: "+pn.Reason
	}
	out.Healthy = healthy
	if healthy {
		out.Settings = ph.Settings
	}
	return w.Put(TypeKubeletStatus, IDKubelet, out, nil)
}

// kubeletServiceState is a service's state for a reason: "backoff (exit 1)".
func kubeletServiceState(ok bool, st ServiceStatusSpec) string {
	switch {
	case !ok:
		return "not started"
	case st.State == "running" && st.Health != "":
		return "running but " + st.Health
	case st.LastError != "":
		return st.State + " (" + st.LastError + ")"
	}
	return st.State
}
