package controllers

// The Kubernetes control-plane resource types.
const (
	// TypeKubeService is a Kubernetes component this control plane wants
	// run (ID = the component: kube-apiserver, kube-controller-manager,
	// kube-scheduler), merged into ServiceSpec by ServiceSpecs.
	TypeKubeService = "KubeService"
	// TypeKubernetesStatus sums up this node's Kubernetes components for
	// operators, gossip health and the cluster health check (ID
	// "kubernetes").
	TypeKubernetesStatus = "KubernetesStatus"
	// TypeKubePhase is where this node's control plane is on its way to
	// running (ID "kubernetes"): disabled, waiting for etcd, refused.
	TypeKubePhase = "KubePhase"

	IDKubernetes = "kubernetes"
)

// Kubernetes phases (KubePhaseSpec.Phase).
const (
	KubePhaseDisabled    = "disabled"
	KubePhaseUnavailable = "unavailable"
	KubePhaseRefused     = "refused"
	KubePhaseWaitingEtcd = "waiting-for-etcd"
	KubePhaseRunning     = "running"
)

// KubePhaseSpec is the spec of KubePhase/kubernetes.
type KubePhaseSpec struct {
	Phase  string `json:"phase"`
	Reason string `json:"reason,omitempty"`
	// Version is the Kubernetes version the components run.
	Version string `json:"version,omitempty"`
	// Components are the services it asked for.
	Components []string `json:"components,omitempty"`
	// APIServer is the local apiserver's URL, when it runs.
	APIServer string `json:"apiServer,omitempty"`
	// Files is a digest of the certificates and kubeconfigs the
	// components were started with; a renewal changes it, and restarts
	// them.
	Files string `json:"files,omitempty"`
}

// KubeComponentStatus is one component in KubernetesStatus.
type KubeComponentStatus struct {
	Name     string `json:"name"`
	State    string `json:"state"`
	Healthy  bool   `json:"healthy"`
	Restarts int    `json:"restarts,omitempty"`
	Message  string `json:"message,omitempty"`
}

// KubernetesStatusSpec is the spec of KubernetesStatus/kubernetes.
type KubernetesStatusSpec struct {
	Phase string `json:"phase"`
	// Healthy: every component this node should run is running and passes
	// its health check. A node whose phase is disabled has nothing to run
	// and is healthy.
	Healthy    bool                  `json:"healthy"`
	Reason     string                `json:"reason,omitempty"`
	Version    string                `json:"version,omitempty"`
	APIServer  string                `json:"apiServer,omitempty"`
	Components []KubeComponentStatus `json:"components,omitempty"`
}
