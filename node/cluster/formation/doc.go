// Package formation turns gossip membership into one Raft group: control-plane
// nodes bootstrap Raft together once the expected number of them see each
// other, and afterwards the Raft leader's autopilot adds, promotes and
// removes servers as gossip reports nodes coming and going. Gossip only
// hints; every decision is checked against, and recorded in, Raft.
package formation
