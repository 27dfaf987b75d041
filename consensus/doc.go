// Package consensus is Cairn's cluster store: typed, versioned resources
// replicated by Raft (hashicorp/raft, with the log and stable store in
// BoltDB), holding the cluster's truth before etcd exists: the cluster
// configuration, the upgrade plan, member and bootstrap records.
//
// Every write is a command applied by a deterministic FSM under one
// cluster-wide revision; every command carries a request ID the FSM
// de-duplicates, so retrying a write whose outcome is unknown is safe. Reads
// are linearizable by default (ReadIndex on the leader) or stale on request;
// Watch streams changes in revision order from any revision still retained.
// See DESIGN.md beside this file for the guarantees and why.
package consensus
