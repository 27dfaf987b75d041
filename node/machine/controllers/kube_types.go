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
	// Settings are the control-plane settings
	// (config.KubeControlPlaneSettingsHash) the services run with;
	// Pending, when set, are the config's newer ones this control plane
	// waits for the Raft leader to grant it.
	Settings string `json:"settings,omitempty"`
	Pending  string `json:"pendingSettings,omitempty"`
	// StaticPods: the components run as kubelet's static pods, not as
	// services (their status is KubePodStatus, not ServiceStatus).
	StaticPods bool `json:"staticPods,omitempty"`
}

// TypeKubePodStatus is a control-plane component running as a static pod,
// as the node observes it (ID = the component): its process and health.
const TypeKubePodStatus = "KubePodStatus"

// KubePodStatusSpec is the spec of KubePodStatus.
type KubePodStatusSpec struct {
	// State is "running" while a process of the component runs, else
	// "missing".
	State string `json:"state"`
	// Health is "healthy" or "unhealthy" (its health URL's answer) while
	// it runs.
	Health string `json:"health,omitempty"`
	PID    int    `json:"pid,omitempty"`
	// Restarts counts the new processes seen since cairnd started.
	Restarts int    `json:"restarts,omitempty"`
	Message  string `json:"message,omitempty"`
}

// TypeKubeRollout is this control plane's grant in the Raft leader's
// rollout of Kubernetes control-plane settings (ID "kubernetes"), mirrored
// from Raft.
const TypeKubeRollout = "KubeRollout"

// KubeRolloutSpec is the spec of KubeRollout/kubernetes.
type KubeRolloutSpec struct {
	// Granted are the settings the leader lets this node run; empty when
	// it has granted none yet.
	Granted string `json:"granted,omitempty"`
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
	// Settings are the control-plane settings the healthy components run
	// with (empty while they are not healthy): what the node reports in
	// gossip, so the leader moves a change on to the next control plane.
	Settings string `json:"settings,omitempty"`
	Pending  string `json:"pendingSettings,omitempty"`
}
