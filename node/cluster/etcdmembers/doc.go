// Package etcdmembers is the Raft leader's etcd membership coordinator and
// the EtcdMembership record it keeps: etcd's member set as the leader last
// observed or changed it, and the one membership change in flight.
//
// The coordinator is level-triggered (a consensus.LeaderFunc): every pass
// re-derives what to do from the stored records, etcd's member list and the
// cluster view, so a new Raft leader continues a recorded change instead of
// repeating it. Each node starts its own etcd from this record and the
// EtcdBootstrap record (node/cluster/etcdboot); see DESIGN.md.
package etcdmembers
