package api

import (
	"context"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/machine/power"
)

// Membership is the gossip view the API serves (Members) and routes by
// (each node's advertised API address, the control planes' leader hints).
type Membership interface {
	Members() []gossip.Member
	Member(name string) (gossip.Member, bool)
}

// Replica is a control plane's copy of the Raft store, as the API uses it:
// the cluster config (read, applied, watched), every cluster-plane resource
// (ResourceStore, cluster_resources.go), and the consensus view for
// Members, ConsensusStatus and forwarding.
type Replica interface {
	cfgstore.Store
	ResourceStore
	Watch(ctx context.Context, typ string, fromRevision uint64) (*consensus.Watch, error)
	Status() (consensus.Status, error)
	Leader() (id, addr string)
	IsLeader() bool
	// NodeID, RemoveServer and TransferLeadership change the Raft
	// configuration for RemoveServer and a graceful Reset.
	NodeID() string
	RemoveServer(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, id string) error
}

// Power is the node's side of Reboot, Shutdown and Reset.
type Power interface {
	// Stop asks the node to stop and then carry out r (node.Run returns
	// it). It returns at once: the node stops its services, then the API,
	// whose shutdown lets running calls finish, so the call that asked is
	// answered before the node goes down.
	Stop(r *power.Request)
	// LeaveGossip announces in gossip that this node leaves the cluster
	// (a graceful reset), so peers drop it at once instead of suspecting
	// it.
	LeaveGossip(ctx context.Context) error
}
