package formation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
)

// membership is what formation needs from gossip.
type membership interface {
	Members() []gossip.Member
	Hints() <-chan struct{}
}

// bootstrapper is what formation needs from the Raft store to bootstrap.
type bootstrapper interface {
	HasState() (bool, error)
	Bootstrap([]consensus.Server) error
}

// bootstrapPlan is the outcome of one look at the membership.
type bootstrapPlan struct {
	servers []consensus.Server // non-empty: bootstrap with exactly these
	done    bool               // never bootstrap: a cluster exists or this node is not chosen
	reason  string
}

// planBootstrap decides from a membership view whether this node bootstraps
// Raft, and with which servers. It is a pure function of its inputs, so
// every node with the same view computes the same server list:
//   - if any peer reports Raft state or a leader, a cluster exists: never;
//   - the chosen servers are the first `expect` names of candidates (from the
//     cluster config) or, without candidates, of the alive control-plane
//     members sorted by name;
//   - bootstrap only when every chosen server is alive and advertises a Raft
//     address, and only if this node is one of them;
//   - each server's ID is RaftID of its name and advertised state ID.
func planBootstrap(self string, members []gossip.Member, expect int, candidates []string) bootstrapPlan {
	alive := map[string]gossip.Member{}
	for _, m := range members {
		if m.Name != self && (m.Meta.HasRaftState || m.Meta.Leader != "") {
			return bootstrapPlan{done: true, reason: fmt.Sprintf("peer %s already has raft state", m.Name)}
		}
		if m.State == gossip.StateAlive && m.Meta.Role == gossip.RoleControlPlane && m.Meta.RaftAddr.IsValid() {
			alive[m.Name] = m
		}
	}
	chosen := candidates
	if len(chosen) == 0 {
		for name := range alive {
			chosen = append(chosen, name)
		}
		slices.Sort(chosen)
		if len(chosen) < expect {
			return bootstrapPlan{reason: fmt.Sprintf("%d of %d control-plane nodes seen", len(chosen), expect)}
		}
	}
	if len(chosen) < expect {
		return bootstrapPlan{done: true, reason: fmt.Sprintf("only %d bootstrap candidates for expect=%d", len(chosen), expect)}
	}
	chosen = chosen[:expect]
	if !slices.Contains(chosen, self) {
		return bootstrapPlan{done: true, reason: "not among the bootstrap servers; waiting to be added by the leader"}
	}
	var servers []consensus.Server
	for _, name := range chosen {
		m, ok := alive[name]
		if !ok {
			return bootstrapPlan{reason: fmt.Sprintf("waiting for control-plane node %s", name)}
		}
		servers = append(servers, consensus.Server{ID: RaftID(name, m.Meta.StateID), Address: m.Meta.RaftAddr.String(), Suffrage: consensus.Voter})
	}
	return bootstrapPlan{servers: servers}
}

// runBootstrap waits until planBootstrap says bootstrap (and does it) or says
// never. A node that already has Raft state returns at once: it rejoins its
// cluster from disk.
func runBootstrap(ctx context.Context, log *slog.Logger, self string, g membership, s bootstrapper, expect int, candidates []string) error {
	has, err := s.HasState()
	if err != nil {
		return fmt.Errorf("check raft state: %w", err)
	}
	if has {
		log.Info("raft state found; rejoining without bootstrap")
		return nil
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		p := planBootstrap(self, g.Members(), expect, candidates)
		switch {
		case len(p.servers) > 0:
			err := s.Bootstrap(p.servers)
			if errors.Is(err, consensus.ErrHasState) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("bootstrap raft: %w", err)
			}
			log.Info("bootstrapped raft", "servers", len(p.servers))
			return nil
		case p.done:
			log.Info("not bootstrapping", "reason", p.reason)
			return nil
		case p.reason != last:
			log.Info("waiting to bootstrap", "reason", p.reason)
			last = p.reason
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-g.Hints():
		case <-tick.C:
		}
	}
}
