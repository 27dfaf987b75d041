// Package node is the Cairn node runtime: it reads the cluster config, finds
// this node's entry, joins the cluster (gossip, and Raft on control planes),
// serves the node API and runs the controllers that apply the replicated
// config to this node.
package node
