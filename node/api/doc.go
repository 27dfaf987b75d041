// Package api serves the node API: cairn.machine.v1, cairn.cluster.v1,
// cairn.resource.v1 (the node's local controller resources), cairn.service.v1
// (its supervised processes, and cairnd itself with its own log, under the
// name "cairnd") and cairn.security.v1 (certificates) over
// Connect, gRPC and gRPC-Web on one TLS port (HTTP/1.1 and HTTP/2), with gRPC
// reflection (v1 and v1alpha) and grpc.health.v1. Cluster writes and
// linearizable reads that reach a follower or a worker are forwarded to the
// Raft leader; a request carrying the Cairn-Node header is proxied whole to
// the named node, which is how one endpoint reaches every node. Cluster
// health (ClusterService/Health) is evaluated by a control plane with
// node/cluster/health; a worker forwards it.
package api
