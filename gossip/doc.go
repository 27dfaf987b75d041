// Package gossip is how Cairn nodes find each other: membership, discovery
// and node metadata over hashicorp/memberlist (SWIM with Lifeguard).
//
// Gossip decides nothing. It tells every node, quickly and without a
// leader, who is out there, at which addresses, in which role, running
// which version, and who seems to have died; the Raft group decides what
// to do about it. A consumer (the Raft leader adding a voter, a node
// bootstrapping consensus) reads Members when Hints fires and then acts
// through Raft, never on gossip alone.
//
// A Node joins from any seed (Join retries with capped backoff), advertises
// a compact Meta that UpdateMeta replaces live, and keeps its own view of
// every member, in which dead and left members stay visible, with their
// time of death, for Config.DeadRetention. Traffic is encrypted with the
// cluster's 32-byte key (AES-256-GCM; keys rotate with InstallKey, UseKey
// and RemoveKey) and labelled with the cluster ID, so clusters sharing a
// network never merge. Peers with another key or cluster ID and nodes
// claiming a live member's name are refused, logged and counted in Status.
//
// All timing comes from DefaultConfig or TestConfig (profile.go); DESIGN.md
// explains the values.
package gossip
