package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/pki"
	"github.com/cairn-project/cairn/node/runtime"
)

// The node's loops that feed its state from outside it run as runtime
// sources (node/runtime/source.go): the runtime restarts them with backoff,
// recovers their panics and reports each in ControllerStatus.

// gossipStatus keeps GossipStatus/local current, so refused name conflicts
// and peers with the wrong key or cluster label are visible (`cairnctl get
// GossipStatus`), not only logged. It samples every interval (gossip's
// hints belong to formation); unchanged samples write nothing.
type gossipStatus struct {
	agent *formation.Agent
	every time.Duration
}

func (g *gossipStatus) Name() string      { return "gossip-status" }
func (g *gossipStatus) Outputs() []string { return []string{controllers.TypeGossipStatus} }

func (g *gossipStatus) Run(ctx context.Context, w runtime.Writer) error {
	tick := time.NewTicker(g.every)
	defer tick.Stop()
	for {
		if err := w.Put(controllers.TypeGossipStatus, "local", g.sample(), nil); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (g *gossipStatus) sample() controllers.GossipStatusSpec {
	n := g.agent.Gossip()
	s := n.Status()
	spec := controllers.GossipStatusSpec{
		Joined: s.Joined, JoinAttempts: s.JoinAttempts, LastJoinError: s.LastJoinError,
		NameConflicts: s.NameConflicts, LabelMismatches: s.LabelMismatches,
		DecryptFailures: s.DecryptFailures, InvalidMeta: s.InvalidMeta, HealthScore: s.HealthScore,
	}
	if c := s.LastConflict; c != nil {
		spec.LastConflict = fmt.Sprintf("%s claimed from %s, held at %s", c.Name, c.Other, c.Existing)
	}
	for _, m := range n.Members() {
		if m.State == gossip.StateAlive {
			spec.AliveMembers++
		}
	}
	return spec
}

// certificateRenewal replaces the node certificate once two thirds of its
// life has passed, checking every interval, and publishes
// CertificateStatus/node. TLS configurations built from the identity use
// the new certificate from the next handshake on. A failed renewal is an
// error: the runtime retries it with backoff and shows it in
// ControllerStatus.
type certificateRenewal struct {
	is    *issuer
	id    *pki.Identity
	every time.Duration
}

func (c *certificateRenewal) Name() string      { return "certificate-renewal" }
func (c *certificateRenewal) Outputs() []string { return []string{controllers.TypeCertificateStatus} }

func (c *certificateRenewal) Run(ctx context.Context, w runtime.Writer) error {
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		if c.id.NeedsRenewal(time.Now()) {
			crt, key, err := c.is.issue(ctx)
			if err == nil {
				err = c.id.Replace(crt, key)
			}
			if err != nil {
				return fmt.Errorf("renew node certificate: %w", err)
			}
			c.is.log.Info("node certificate renewed", "notAfter", c.id.Leaf().NotAfter)
		}
		leaf := c.id.Leaf()
		if err := w.Put(controllers.TypeCertificateStatus, "node", controllers.CertificateStatusSpec{
			Subject: leaf.Subject.CommonName, NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		}, nil); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// configSeed stores the bootstrap config once this control plane leads, if
// no config is stored yet; it is done once one is. Seeding is idempotent
// (cfgstore.Seed is create-only with a content-derived request ID), so every
// control plane runs this and whichever leads first seeds. A failed attempt
// is retried by the runtime; leadership is awaited through the store's
// leader hook, not polled.
type configSeed struct {
	log     *slog.Logger
	store   *consensus.Store
	cfg     *config.Config
	leading chan struct{} // one-slot: this node became leader
}

func newConfigSeed(log *slog.Logger, s *consensus.Store, cfg *config.Config) *configSeed {
	c := &configSeed{log: log, store: s, cfg: cfg, leading: make(chan struct{}, 1)}
	s.AddLeaderFunc(func(context.Context) {
		select {
		case c.leading <- struct{}{}:
		default:
		}
	})
	return c
}

func (c *configSeed) Name() string      { return "config-seed" }
func (c *configSeed) Outputs() []string { return []string{controllers.TypeConfigSeed} }

func (c *configSeed) Run(ctx context.Context, w runtime.Writer) error {
	for {
		if _, err := cfgstore.Get(ctx, c.store, consensus.Stale); err == nil {
			return w.Put(controllers.TypeConfigSeed, "cluster", controllers.ConfigSeedSpec{Seeded: true}, nil)
		}
		if c.store.IsLeader() {
			if err := cfgstore.Seed(ctx, c.store, c.cfg); err != nil {
				return err
			}
			c.log.Info("bootstrap cluster config stored")
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.leading:
		}
	}
}
