// Package etcd is this machine's side of etcd: the member's files (its
// certificates, its data directory and the marker that says which cluster
// that data belongs to), the flags it is started with, and a client for
// its TLS-only client port. Which members the cluster has is decided on
// the Raft leader (node/cluster/etcdmembers) and reaches this package as
// data.
package etcd
