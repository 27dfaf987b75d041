package controllers

import (
	"time"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/network"
)

// Resource types and IDs the node's controllers exchange.
const (
	// TypeClusterConfig holds the cluster config this node follows (ID
	// "cluster"), written by the config source, secrets redacted. Its name
	// is ReceivedConfig because ClusterConfig names the cluster-plane
	// record in Raft (node/cluster/resources), and a name means one type
	// in one scope.
	TypeClusterConfig = "ReceivedConfig"
	// TypeConfigStatus holds the revision this node has applied (ID "applied").
	TypeConfigStatus = "ConfigStatus"

	// TypeNetworkSpec holds this node's desired network (ID "desired").
	TypeNetworkSpec = "NetworkSpec"
	// TypeNetworkStatus holds the outcome of applying it (ID "status").
	TypeNetworkStatus = "NetworkStatus"
	// TypeKernelEvents counts kernel network notifications (ID "netlink");
	// a change wakes the observers.
	TypeKernelEvents = "KernelNetworkEvents"
	// Observed kernel state, one resource per object, as `cairnctl get
	// links|addresses|routes` shows them.
	TypeLinks     = "links"
	TypeAddresses = "addresses"
	TypeRoutes    = "routes"

	// TypeGossipStatus is this node's gossip health (ID "local"): join state,
	// refused name conflicts, peers with a wrong key or cluster label.
	TypeGossipStatus = "GossipStatus"

	// TypeMachineStatus is the machine's mode and capabilities (ID
	// "machine"): what it may do, and why not where it may not.
	TypeMachineStatus = "MachineStatus"

	// TypeBootStatus is what the boot before the node did (ID "machine"):
	// mounts, image modules, host NIC, config source (pid1 mode).
	TypeBootStatus = "BootStatus"
	// TypeStateDiskStatus is the state disk's outcome (ID "var"): mounted,
	// formatted, refused with why, failed, or none configured.
	TypeStateDiskStatus = "StateDiskStatus"

	// TypeCertificateStatus is this node's certificate (ID "node"): its
	// subject and validity, renewed at two thirds of its life.
	TypeCertificateStatus = "CertificateStatus"
	// TypeConfigSeed says whether the bootstrap config is stored in Raft
	// (ID "cluster"; control planes only).
	TypeConfigSeed = "ConfigSeed"

	// TypeServiceSpec is a service a controller wants supervised (ID = the
	// service name): etcd and kubelet controllers emit them.
	TypeServiceSpec = "ServiceSpec"
	// TypeServiceApplied is the spec ServiceApply last ran for a service.
	TypeServiceApplied = "ServiceApplied"
	// TypeServiceStatus is a supervised service's state (ID = its name).
	TypeServiceStatus = "ServiceStatus"
	// TypeReaperStatus counts the orphans PID 1 reaped (ID "machine"; pid1
	// and container modes, where cairnd is PID 1).
	TypeReaperStatus = "ReaperStatus"

	// TypeKernelModuleSpec is a kernel module this node wants loaded (ID =
	// the module name; dashes and underscores alike).
	TypeKernelModuleSpec = "KernelModuleSpec"
	// TypeKernelModuleStatus is the outcome of loading one (ID = the
	// spec's ID).
	TypeKernelModuleStatus = "KernelModuleStatus"

	// TypeSysctlSpec is a kernel parameter this node wants set (ID = its
	// dotted name, as the config spells it).
	TypeSysctlSpec = "SysctlSpec"
	// TypeSysctlStatus is the outcome of setting one (ID = the spec's ID).
	TypeSysctlStatus = "SysctlStatus"

	// TypeHostnameStatus is the hostname this node wants, the one the
	// kernel has, and whether it was set (ID "status").
	TypeHostnameStatus = "HostnameStatus"

	// TypeNodeListed says whether the latest cluster config lists this node
	// (ID "self"); a node it does not list leaves the cluster.
	TypeNodeListed = "NodeListed"
	// TypeNodeRemoval is this node leaving the cluster (ID "self"), once
	// the config no longer lists it.
	TypeNodeRemoval = "NodeRemoval"

	// TypeNodeHealth lists the node's failing controllers and sources
	// (ID "self"), which its gossip health names.
	TypeNodeHealth = "NodeHealth"

	IDCluster = "cluster"
	IDSelf    = "self"
	IDMachine = "machine"
	IDApplied = "applied"
	IDDesired = "desired"
	IDStatus  = "status"
	IDNetlink = "netlink"
)

// MachineStatusSpec is the spec of the MachineStatus resource.
type MachineStatusSpec struct {
	Mode         string              `json:"mode"`
	Capabilities []capability.Status `json:"capabilities"`
}

// CertificateStatusSpec is the spec of the CertificateStatus resource.
type CertificateStatusSpec struct {
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
}

// ConfigSeedSpec is the spec of the ConfigSeed resource.
type ConfigSeedSpec struct {
	Seeded bool `json:"seeded"`
}

// NodeHealthSpec is the spec of the NodeHealth resource.
type NodeHealthSpec struct {
	Failing []string `json:"failing"`
}

// NodeListedSpec is the spec of the NodeListed resource.
type NodeListedSpec struct {
	Revision uint64 `json:"revision"`
	Listed   bool   `json:"listed"`
}

// NodeRemovalSpec is the spec of the NodeRemoval resource.
type NodeRemovalSpec struct {
	// Revision is the first config revision that does not list the node.
	Revision uint64 `json:"revision"`
	// State is "waiting for the leader to remove it from raft" or "left".
	State string `json:"state"`
}

// KernelModuleSpecSpec is the spec of a KernelModuleSpec resource.
type KernelModuleSpecSpec struct {
	// Source names who wants the module: the image or the config.
	Source string `json:"source,omitempty"`
}

// KernelModuleStatusSpec is the spec of a KernelModuleStatus resource.
type KernelModuleStatusSpec struct {
	// State is "loaded", "builtin" (in the kernel, nothing to load),
	// "failed" or "skipped" (the machine may not load modules).
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

// SysctlSpecSpec is the spec of a SysctlSpec resource.
type SysctlSpecSpec struct {
	Value string `json:"value"`
}

// SysctlStatusSpec is the spec of a SysctlStatus resource.
type SysctlStatusSpec struct {
	// Desired is the value the spec asks for.
	Desired string `json:"desired"`
	// Observed is the value read back from the kernel after the write (or
	// instead of it, where the machine may not write); empty when it could
	// not be read.
	Observed string `json:"observed"`
	// Applied says the kernel holds the desired value: it already did, or
	// the write succeeded.
	Applied bool `json:"applied"`
	// Error says why not: "no such parameter", "invalid argument" (the
	// kernel refused the value), "permission denied" or "read-only file
	// system" (a container may write only its namespaces' parameters), or
	// "not applied: " and the reason the machine lacks the capability.
	Error string `json:"error,omitempty"`
}

// HostnameStatusSpec is the spec of HostnameStatus/status.
type HostnameStatusSpec struct {
	// Desired is the configured hostname, or the node's name when the
	// config sets none.
	Desired string `json:"desired"`
	// Observed is the hostname of cairnd's UTS namespace after the pass.
	Observed string `json:"observed"`
	// Applied says the kernel holds the desired hostname.
	Applied bool `json:"applied"`
	// Error says why not, as SysctlStatusSpec.Error does.
	Error string `json:"error,omitempty"`
}

// ClusterConfigSpec is the spec of the ClusterConfig resource.
type ClusterConfigSpec struct {
	Revision uint64         `json:"revision"`
	Config   *config.Config `json:"config"`
}

// ConfigStatusSpec is the spec of the ConfigStatus resource.
type ConfigStatusSpec struct {
	Revision uint64 `json:"revision"`
}

// NetworkSpecSpec is this node's desired network at a config revision.
type NetworkSpecSpec struct {
	Revision uint64          `json:"revision"`
	Desired  network.Desired `json:"desired"`
}

// NetworkStatusSpec is the outcome of converging the kernel to a spec.
type NetworkStatusSpec struct {
	Revision uint64 `json:"revision"`
	// Mode is "applied" (the kernel was changed) or "planned" (process mode:
	// the changes are only reported).
	Mode    string   `json:"mode"`
	Changes []string `json:"changes,omitempty"`
	Error   string   `json:"error,omitempty"`
	// Managed is what this node owns in the kernel: removed from the config,
	// it is removed from the kernel; anything else is left alone.
	Managed network.Desired `json:"managed"`
}

// KernelEventsSpec counts netlink notifications seen.
type KernelEventsSpec struct {
	Seq uint64 `json:"seq"`
}

// GossipStatusSpec is the spec of GossipStatus/local.
type GossipStatusSpec struct {
	Joined          bool   `json:"joined"`
	JoinAttempts    uint64 `json:"joinAttempts"`
	LastJoinError   string `json:"lastJoinError,omitempty"`
	NameConflicts   uint64 `json:"nameConflicts"`
	LastConflict    string `json:"lastConflict,omitempty"`
	LabelMismatches uint64 `json:"labelMismatches"`
	DecryptFailures uint64 `json:"decryptFailures"`
	InvalidMeta     uint64 `json:"invalidMeta"`
	HealthScore     int    `json:"healthScore"`
	AliveMembers    int    `json:"aliveMembers"`
}
