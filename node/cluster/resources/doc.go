// Package resources is the registry of cluster-plane resource types: the
// typed, versioned records the Raft store holds (the cluster configuration,
// and next the etcd bootstrap record, member records and the upgrade plan).
// The node API serves every registered type through one generic service
// (cairn.cluster.v1.ClusterResourceService), so a new type is a Definition
// here, not new RPCs. See DESIGN.md.
package resources
