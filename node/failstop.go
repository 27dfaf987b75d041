package node

import (
	"fmt"

	"github.com/cairn-project/cairn/node/cluster/formation"
)

// storeStopped returns a channel closed when the agent's Raft store stops,
// or nil (never ready) on a worker, which has none.
func storeStopped(agent *formation.Agent) <-chan struct{} {
	if agent.Store == nil {
		return nil
	}
	return agent.Store.Done()
}

// storageFault is Run's error for a store that stopped by itself.
func storageFault(agent *formation.Agent) error {
	if cause := agent.Store.Err(); cause != nil {
		return fmt.Errorf("%w: %w", ErrStorageFault, cause)
	}
	return ErrStorageFault
}
