package controllers

import "github.com/cairn-project/cairn/node/config"

// Resource types and IDs the node's controllers exchange.
const (
	// TypeClusterConfig holds the cluster config this node follows (ID
	// "cluster"), written by the config source, secrets redacted.
	TypeClusterConfig = "ClusterConfig"
	// TypeConfigStatus holds the revision this node has applied (ID "applied").
	TypeConfigStatus = "ConfigStatus"

	IDCluster = "cluster"
	IDApplied = "applied"
)

// ClusterConfigSpec is the spec of the ClusterConfig resource.
type ClusterConfigSpec struct {
	Revision uint64         `json:"revision"`
	Config   *config.Config `json:"config"`
}

// ConfigStatusSpec is the spec of the ConfigStatus resource.
type ConfigStatusSpec struct {
	Revision uint64 `json:"revision"`
}
