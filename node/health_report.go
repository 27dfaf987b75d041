package node

import (
	"context"
	"slices"

	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/runtime"
)

// healthReport puts the node's failing controllers and sources (from the
// runtime's ControllerStatus), an unhealthy etcd member (EtcdStatus) and
// unhealthy Kubernetes components (KubernetesStatus) and an unhealthy
// kubelet (KubeletStatus: not running, or its Node not Ready),
// into its gossip health summary, so that
// `get members` shows "degraded: config-source failing" rather than "ok"
// while a loop keeps failing; and publishes the same list as
// NodeHealth/self.
type healthReport struct {
	report func(failing []string)
	// etcd, when set, gets this node's etcd member for gossip (EtcdStatus):
	// its state in a word or two, for Members, and the settings the
	// healthy member runs with, which the leader's rollout of a
	// cluster.etcd change waits for.
	etcd func(state, settings string)
	// kubernetes, when set, gets this node's Kubernetes components in a
	// word or two (KubernetesStatus), for Members, and the control-plane
	// settings its healthy components run with, for the leader's rollout.
	kubernetes func(state, settings string)
	// kubelet, when set, gets this node's kubelet (KubeletStatus) in a
	// word or two, the settings a healthy kubelet runs with (the leader's
	// kubelet rollout waits for them) and the node's pod CIDR, which every
	// other node routes here.
	kubelet func(state, settings, podCIDR string)
}

func (c *healthReport) Name() string { return "health-report" }

func (c *healthReport) Inputs() []runtime.Input {
	return []runtime.Input{{Type: runtime.TypeControllerStatus}, {Type: controllers.TypeEtcdStatus, ID: controllers.IDEtcd},
		{Type: controllers.TypeKubernetesStatus, ID: controllers.IDKubernetes}, {Type: controllers.TypeKubeletStatus, ID: controllers.IDKubelet}}
}

func (c *healthReport) Outputs() []string { return []string{controllers.TypeNodeHealth} }

func (c *healthReport) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	all, err := r.List(runtime.TypeControllerStatus)
	if err != nil {
		return err
	}
	failing := []string{}
	for _, res := range all {
		if s, ok := res.Spec.(runtime.ControllerStatusSpec); ok && s.State == runtime.StateFailing && res.ID != c.Name() {
			failing = append(failing, res.ID)
		}
	}
	slices.Sort(failing)
	state, settings := "", ""
	if res, err := r.Get(controllers.TypeEtcdStatus, controllers.IDEtcd); err == nil {
		if s, ok := res.Spec.(controllers.EtcdStatusSpec); ok {
			if !s.Healthy {
				failing = append(failing, "etcd")
			}
			state, settings = etcdState(s), s.Settings
		}
	}
	kube, kubeSettings := "", ""
	if res, err := r.Get(controllers.TypeKubernetesStatus, controllers.IDKubernetes); err == nil {
		if s, ok := res.Spec.(controllers.KubernetesStatusSpec); ok {
			if !s.Healthy {
				failing = append(failing, "kubernetes")
			}
			kube, kubeSettings = kubernetesState(s), s.Settings
		}
	}
	if res, err := r.Get(controllers.TypeKubeletStatus, controllers.IDKubelet); err == nil {
		if s, ok := res.Spec.(controllers.KubeletStatusSpec); ok {
			if !s.Healthy {
				failing = append(failing, "kubelet")
			}
			if c.kubelet != nil {
				c.kubelet(kubeletState(s), s.Settings, s.PodCIDR)
			}
		}
	}
	if c.kubernetes != nil {
		c.kubernetes(kube, kubeSettings)
	}
	if c.etcd != nil {
		c.etcd(state, settings)
	}
	c.report(failing)
	return w.Put(controllers.TypeNodeHealth, controllers.IDSelf, controllers.NodeHealthSpec{Failing: failing}, nil)
}

// kubernetesState is a node's Kubernetes components in a word or two for
// Members: "ready" while healthy and running, "unhealthy" while a
// component fails, else the phase ("disabled", "waiting-for-etcd", ...).
func kubernetesState(s controllers.KubernetesStatusSpec) string {
	switch {
	case s.Phase == controllers.KubePhaseRunning && s.Healthy:
		return "ready"
	case s.Phase == controllers.KubePhaseRunning:
		return "unhealthy"
	}
	return s.Phase
}

// etcdState is a member's state in a word or two for Members: "voter" or
// "learner" while healthy, else its phase ("joining", "refused", ...), or
// "unhealthy" for a member that runs but does not answer well.
func etcdState(s controllers.EtcdStatusSpec) string {
	switch {
	case s.Healthy && s.Learner:
		return "learner"
	case s.Healthy:
		return "voter"
	case s.Phase == controllers.EtcdPhaseMember:
		return "unhealthy"
	}
	return s.Phase
}
