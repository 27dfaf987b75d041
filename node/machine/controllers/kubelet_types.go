package controllers

// The resource types of a node's kubelet (container and pid1 modes).
const (
	// TypeKubeletService is a service of the node's Kubernetes runtime
	// (ID containerd, image-import or kubelet), merged into ServiceSpec.
	TypeKubeletService = "KubeletService"
	// TypeKubeletPhase is where the node's kubelet is on its way to
	// running (ID "kubelet").
	TypeKubeletPhase = "KubeletPhase"
	// TypeKubeletCredentials is the kubelet's client certificate and
	// kubeconfig, written by the node (ID "kubelet").
	TypeKubeletCredentials = "KubeletCredentials"
	// TypePodNetwork is this node as Kubernetes sees it (ID "kubelet"):
	// the pod CIDR kube-controller-manager gave it and whether it is Ready.
	TypePodNetwork = "PodNetwork"

	IDKubelet = "kubelet"
)

// The services of the Kubernetes runtime on a node.
const (
	ServiceContainerd  = "containerd"
	ServiceImageImport = "image-import"
	ServiceKubelet     = "kubelet"
	ServiceKubeProxy   = "kube-proxy"
)

// Kubelet phases (KubeletPhaseSpec.Phase).
const (
	KubeletPhaseDisabled    = "disabled"
	KubeletPhaseUnavailable = "unavailable"
	KubeletPhaseImages      = "importing-images"
	KubeletPhaseCredentials = "waiting-for-credentials"
	KubeletPhaseRunning     = "running"
	KubeletPhaseRefused     = "refused"
)

// KubeletPhaseSpec is the spec of KubeletPhase/kubelet.
type KubeletPhaseSpec struct {
	Phase  string `json:"phase"`
	Reason string `json:"reason,omitempty"`
	// Settings are the kubelet settings (config.KubeletSettingsHash) the
	// kubelet service runs with; Pending the config's newer ones that
	// wait for the Raft leader's grant.
	Settings string `json:"settings,omitempty"`
	Pending  string `json:"pendingSettings,omitempty"`
	// CNI is the pod CIDR of the CNI configuration written, if any.
	PodCIDR string `json:"podCIDR,omitempty"`
}

// KubeletCredentialsSpec is the spec of KubeletCredentials/kubelet.
type KubeletCredentialsSpec struct {
	// Kubeconfig is the kubeconfig file's path; Digest changes with the
	// certificate.
	Kubeconfig string `json:"kubeconfig"`
	Digest     string `json:"digest"`
	Expires    string `json:"expires,omitempty"`
}

// PodNetworkSpec is the spec of PodNetwork/kubelet.
type PodNetworkSpec struct {
	// PodCIDR is the node's spec.podCIDR; empty until allocated.
	PodCIDR string `json:"podCIDR,omitempty"`
	// Registered: the Node object exists. Ready is its Ready condition,
	// Reason the condition's message when it is not.
	Registered bool   `json:"registered"`
	Ready      bool   `json:"ready"`
	Reason     string `json:"reason,omitempty"`
}
