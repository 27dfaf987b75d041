package node

import (
	"context"
	"fmt"
	"time"

	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/controllers"
	"github.com/cairn-project/cairn/node/formation"
	"github.com/cairn-project/cairn/node/runtime"
)

// publishGossipStatus keeps GossipStatus/local current, so refused name
// conflicts and peers with the wrong key or cluster label are visible
// (`cairnctl get GossipStatus`), not only logged. It samples periodically
// (gossip's hints belong to formation); unchanged samples write nothing.
func publishGossipStatus(ctx context.Context, st *runtime.State, agent *formation.Agent, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		g := agent.Gossip()
		s := g.Status()
		spec := controllers.GossipStatusSpec{
			Joined: s.Joined, JoinAttempts: s.JoinAttempts, LastJoinError: s.LastJoinError,
			NameConflicts: s.NameConflicts, LabelMismatches: s.LabelMismatches,
			DecryptFailures: s.DecryptFailures, InvalidMeta: s.InvalidMeta, HealthScore: s.HealthScore,
		}
		if c := s.LastConflict; c != nil {
			spec.LastConflict = fmt.Sprintf("%s claimed from %s, held at %s", c.Name, c.Other, c.Existing)
		}
		for _, m := range g.Members() {
			if m.State == gossip.StateAlive {
				spec.AliveMembers++
			}
		}
		_, _ = st.Put(runtime.Resource{Type: controllers.TypeGossipStatus, ID: "local", Spec: spec})
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
