package api

import (
	"context"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/cluster/cfgstore"
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
}
