// Package health is the one evaluation of cluster health: gossip converged,
// one leader followed by a quorum, every configured control plane a healthy
// voter, every node on the current configuration revision. Observe gathers
// an Observation through a Source (the node API, as any node or client sees
// it) and Evaluate turns it into Checks. The node API serves the result as
// cairn.cluster.v1.ClusterService/Health, cairnctl health prints it, and the
// leader's upgrade gates judge with the same code.
package health
