package cli

import (
	"context"
	"sync"

	"github.com/cairn-project/cairn/node/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// observe gathers one round of health data: the configuration (for its
// revision and node list), the endpoint's membership, then each alive
// member's own view and each control plane's Raft status, through the
// endpoint.
func observe(ctx context.Context, c *apiClient) observation {
	var o observation
	var wg sync.WaitGroup
	wg.Go(func() {
		cfg, err := getConfig(ctx, c, "", &clusterv1.GetConfigRequest{})
		if err != nil {
			o.configErr = err
			return
		}
		o.configRev = cfg.GetRevision()
		o.expected, o.controlPlanes, o.configErr = configNodeNames(cfg.GetConfig())
	})
	observeMembers(ctx, c, &o) // sets only the membership fields
	wg.Wait()
	return o
}

// observeMembers reads the endpoint's membership, then asks every alive
// member for its own view and every control plane for its Raft status.
func observeMembers(ctx context.Context, c *apiClient, o *observation) {
	res := fetchMembers(ctx, c, nil, false)[0]
	if res.err != nil {
		o.membersErr = res.err
		return
	}
	o.members = res.val.GetMembers()
	var alive, cps []string
	for _, m := range o.members {
		if m.GetGossipState() == clusterv1.GossipState_GOSSIP_STATE_ALIVE {
			alive = append(alive, m.GetName())
		}
		if m.GetRole() == clusterv1.Role_ROLE_CONTROLPLANE {
			cps = append(cps, m.GetName())
		}
	}
	var views []nodeResult[*clusterv1.MembersResponse]
	var cons []nodeResult[*clusterv1.ConsensusStatusResponse]
	var inner sync.WaitGroup
	if len(alive) > 0 {
		inner.Go(func() { views = fetchMembers(ctx, c, alive, true) })
	}
	if len(cps) > 0 {
		inner.Go(func() { cons = fetchConsensus(ctx, c, cps) })
	}
	inner.Wait()
	o.views, o.consensus = byNode(views), byNode(cons)
}

func byNode[T any](rs []nodeResult[T]) map[string]nodeResult[T] {
	out := make(map[string]nodeResult[T], len(rs))
	for _, r := range rs {
		out[r.node] = r
	}
	return out
}

// configNodeNames lists the node names of a (possibly redacted)
// configuration document, and the control planes' among them.
func configNodeNames(doc string) (all, controlPlanes []string, err error) {
	cfg, err := config.Parse([]byte(doc))
	if err != nil {
		return nil, nil, err
	}
	all = make([]string, 0, len(cfg.Nodes))
	controlPlanes = []string{}
	for _, n := range cfg.Nodes {
		all = append(all, n.Name)
		if n.Role == config.RoleControlPlane {
			controlPlanes = append(controlPlanes, n.Name)
		}
	}
	return all, controlPlanes, nil
}
