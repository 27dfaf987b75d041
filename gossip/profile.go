package gossip

import "time"

// DefaultPort is the gossip port, used for both TCP and UDP.
const DefaultPort = 6441

// This file is the one place where gossip timing is chosen. DESIGN.md
// explains the reasoning; keep the two in step.

// DefaultConfig returns the production profile, tuned for a LAN of up to a
// few hundred nodes. The caller still sets Name, ClusterID, Key, Meta and
// Logger.
//
// The timing is memberlist's LAN profile (the one Consul ships): gossip only
// hints, Raft has its own faster failure detector, and dead voters are
// removed only after a grace period of minutes, so there is nothing to gain
// from detecting failures in under ~5 s and much to lose from false
// suspicion on a loaded node.
func DefaultConfig() Config {
	return Config{
		BindAddr: "0.0.0.0",
		BindPort: DefaultPort,

		ProbeInterval:           time.Second,
		ProbeTimeout:            500 * time.Millisecond,
		IndirectChecks:          3,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 6,
		GossipInterval:          200 * time.Millisecond,
		GossipNodes:             3,
		RetransmitMult:          4,
		PushPullInterval:        30 * time.Second,
		StreamTimeout:           10 * time.Second,
		GossipToTheDeadTime:     30 * time.Second,
		DeadNodeReclaimTime:     30 * time.Second,
		Compress:                true,

		BroadcastTimeout: 5 * time.Second,
		JoinBackoffMin:   500 * time.Millisecond,
		JoinBackoffMax:   30 * time.Second,
		DeadRetention:    24 * time.Hour,
		// Contacting the few members that are not alive costs a refused
		// connection each; 2 s bounds how long a restarted node's old
		// metadata can linger (see Node.Reconnect).
		ReconnectInterval: 2 * time.Second,
	}
}

// SlowConfig is DefaultConfig for machines far slower than their clocks
// (VMs emulated without KVM): probes every 2 s with a 1 s timeout, so a
// peer whose vCPU stalls for a second is not suspected. Failure detection
// takes about twice as long as DefaultConfig's.
func SlowConfig() Config {
	c := DefaultConfig()
	c.ProbeInterval = 2 * time.Second
	c.ProbeTimeout = time.Second
	return c
}

// TestConfig returns the profile for tests: bound to 127.0.0.1 on a free
// port, with intervals shrunk 2.5- to 5-fold so a 5-node cluster detects a
// dead member in about two seconds, yet loose enough that 100 nodes in one
// process on two shared cores do not suspect each other falsely, and
// without compression, which costs those 100 nodes more CPU than anything
// else. Tests set BindAddr to a 127.x address of their own.
func TestConfig() Config {
	return Config{
		BindAddr: "127.0.0.1",
		BindPort: 0,

		ProbeInterval:           400 * time.Millisecond,
		ProbeTimeout:            200 * time.Millisecond,
		IndirectChecks:          2,
		SuspicionMult:           3,
		SuspicionMaxTimeoutMult: 2,
		GossipInterval:          100 * time.Millisecond,
		GossipNodes:             3,
		RetransmitMult:          3,
		PushPullInterval:        time.Second,
		StreamTimeout:           time.Second,
		GossipToTheDeadTime:     time.Second,
		DeadNodeReclaimTime:     time.Second,
		Compress:                false,

		BroadcastTimeout:  time.Second,
		JoinBackoffMin:    20 * time.Millisecond,
		JoinBackoffMax:    250 * time.Millisecond,
		DeadRetention:     time.Minute,
		ReconnectInterval: 300 * time.Millisecond,
	}
}
