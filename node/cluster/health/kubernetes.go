package health

import (
	"fmt"
	"strings"

	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// KubernetesView is a control plane's Kubernetes components as the node
// reports them in its KubernetesStatus resource (node/machine/controllers):
// what the kubernetes check judges.
type KubernetesView struct {
	Phase   string `json:"phase"`
	Healthy bool   `json:"healthy"`
	Reason  string `json:"reason"`
	Version string `json:"version"`
}

// ParseKubernetesView reads a KubernetesStatus resource's spec (YAML or
// JSON, as the resource API serves it).
func ParseKubernetesView(spec []byte) (*KubernetesView, error) {
	return parseView[KubernetesView]("kubernetes status", spec)
}

// noKubeletYet is what the check says about Kubernetes nodes while no mode
// runs kubelet: the control plane serves the API, and workloads need nodes
// of the container or VM provisioners.
const noKubeletYet = "no node runs kubelet: process mode runs the control plane only; Kubernetes nodes need the docker provisioner"

// checkKubernetes: every control plane runs a healthy Kubernetes control
// plane (kube-apiserver, kube-controller-manager, kube-scheduler), or
// Kubernetes is disabled on all of them. Control planes run without
// Kubernetes binaries (cairnd --kubernetes=none: no KubernetesStatus) pass,
// saying so, when all of them are.
func checkKubernetes(o Observation) Check {
	var p problems
	if o.MembersErr != nil {
		p.add("", "cannot list members: %s", ShortError(o.MembersErr))
		return p.result("kubernetes", "")
	}
	cps := o.ControlPlanes
	if cps == nil {
		cps = controlPlaneMembers(o)
	}
	var running, disabled, none []string
	version := ""
	for _, n := range cps {
		r, ok := o.Kubernetes[n]
		switch {
		case !ok:
			p.add(n, "%s: not asked (not a member yet)", n)
			continue
		case r.Err != nil:
			p.add(n, "%s: %s", n, ShortError(r.Err))
			continue
		case r.Val == nil:
			none = append(none, n)
			continue
		}
		v := r.Val
		switch {
		case v.Phase == "disabled":
			disabled = append(disabled, n)
		case !v.Healthy:
			p.add(n, "%s: %s (%s)", n, v.Phase, v.Reason)
		default:
			running = append(running, n)
			version = v.Version
		}
	}
	switch {
	case len(cps) > 0 && len(none) == len(cps):
		return Check{Name: "kubernetes", OK: true, Detail: "no control plane runs Kubernetes (cairnd --kubernetes=none)"}
	case len(cps) > 0 && len(disabled) == len(cps):
		return Check{Name: "kubernetes", OK: true, Detail: "Kubernetes is disabled (cluster.kubernetes.disabled)"}
	}
	for _, n := range none {
		p.add(n, "%s runs no Kubernetes", n)
	}
	for _, n := range disabled {
		p.add(n, "%s has Kubernetes disabled while others run it", n)
	}
	kubelets := checkKubelets(o, &p)
	return p.result("kubernetes", fmt.Sprintf("Kubernetes %s control plane healthy on %d %s (%s); %s",
		version, len(running), plural(len(running), "node", "nodes"), strings.Join(running, ", "), kubelets))
}

// checkKubelets judges every alive member's kubelet as it reports it in
// gossip (Members' kubelet): "ready" (running, healthy, its Node Ready) or
// "disabled" pass, anything else is a problem of that node; nodes that run
// none (process mode) are not judged. It returns what passes, for the
// detail.
func checkKubelets(o Observation, p *problems) string {
	var ready, any []string
	for _, m := range o.Members {
		if m.GetGossipState() != clusterv1.GossipState_GOSSIP_STATE_ALIVE || m.GetKubelet() == "" {
			continue
		}
		any = append(any, m.GetName())
		switch m.GetKubelet() {
		case "ready", "disabled":
			ready = append(ready, m.GetName())
		default:
			p.add(m.GetName(), "%s: kubelet %s", m.GetName(), m.GetKubelet())
		}
	}
	if len(any) == 0 {
		return noKubeletYet
	}
	return fmt.Sprintf("%d of %d %s Ready", len(ready), len(any), plural(len(any), "node", "nodes"))
}
