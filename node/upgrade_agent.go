package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/connect"
	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/internal/atomicfile"
	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/cluster/upgrade"
	"github.com/cairn-project/cairn/node/machine/artifacts"
	"github.com/cairn-project/cairn/node/machine/boot"
	"github.com/cairn-project/cairn/node/machine/etcd"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// installedFile keeps the grant a node last installed, across restarts
// (upgrade.Self.Installed).
const installedFile = "upgrade/installed.json"

// errNoBootSlots is why a node started without a boot stage with slots
// (container and pid1 modes until their bundles exist) does not install.
var errNoBootSlots = errors.New("this node was not started by a boot stage with A/B slots: it cannot install an upgrade")

// upgradeAgent carries out this node's step of the upgrade plan
// (upgrade.NextNodeAction): on install it fetches the artifact by digest
// from the members, checks it, writes it into the inactive boot slot and
// asks its boot stage to try that slot (which restarts the node into it);
// on confirm it confirms the slot it runs. It reads the plan from its
// replica (control planes) or through its own API (workers, forwarded),
// every upgradePass: a late grant only delays a restart.
type upgradeAgent struct {
	agent     *formation.Agent
	self      string
	stateDir  string
	slot      string // the slot running now; "" without a boot stage
	trial     bool
	artifacts *artifacts.Store
	tls       *tls.Config
	apiAddr   string
	// forfeit hands etcd leadership over before a control plane restarts
	// (nil on a node without etcd).
	forfeit func(ctx context.Context) error
	opts    Options
	every   time.Duration
	log     *slog.Logger

	// Run's own state (one goroutine).
	confirmed bool
	lastErr   string
}

func newUpgradeAgent(agent *formation.Agent, selfName, apiAddr string, o Options, store *artifacts.Store, tlsCfg *tls.Config, ops *etcd.Ops, log *slog.Logger) *upgradeAgent {
	a := &upgradeAgent{
		agent: agent, self: selfName, stateDir: o.StateDir, slot: o.BootSlot, trial: o.BootTrial, artifacts: store,
		tls: tlsCfg, apiAddr: apiAddr, opts: o, every: upgradePass, log: log.With("component", "upgrade-agent"),
	}
	if ops != nil {
		a.forfeit = func(ctx context.Context) error {
			_, err := ops.ForfeitLeadership(ctx)
			return err
		}
	}
	return a
}

// Run acts on the plan until ctx ends.
func (a *upgradeAgent) Run(ctx context.Context) error {
	client, done := peerClient(a.tls, 10*time.Second)
	defer done()
	resources := clusterv1connect.NewClusterResourceServiceClient(client, "https://"+a.apiAddr, connect.WithGRPC())
	changed := a.watchPlan(ctx)
	for {
		if p, ok := a.plan(ctx, resources); ok {
			if err := a.act(ctx, p); err != nil && ctx.Err() == nil {
				a.warn(err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.every):
		case _, ok := <-changed:
			if !ok {
				changed = nil // the watch ended: polling goes on
			}
		}
	}
}

// watchPlan returns a channel that receives a value when the plan changes
// in this control plane's replica, so a grant is acted on at once; nil on
// a worker (it polls through its API) or when the watch cannot start.
func (a *upgradeAgent) watchPlan(ctx context.Context) <-chan consensus.Event {
	if a.agent.Store == nil {
		return nil
	}
	w, err := a.agent.Store.Watch(ctx, upgrade.ResourceType, 0)
	if err != nil {
		return nil
	}
	return w.Events()
}

// warn logs err once until it changes.
func (a *upgradeAgent) warn(err error) {
	if err.Error() != a.lastErr {
		a.log.Warn("upgrade step", "error", err)
		a.lastErr = err.Error()
	}
}

// plan reads the plan: stale from the replica, or through the API.
func (a *upgradeAgent) plan(ctx context.Context, cl clusterv1connect.ClusterResourceServiceClient) (upgrade.Plan, bool) {
	if a.agent.Store != nil {
		res, _, err := a.agent.Store.Get(ctx, upgrade.ResourceType, upgrade.ResourceID, consensus.Stale)
		if err != nil {
			return upgrade.Plan{}, false
		}
		p, err := upgrade.Decode(res)
		return p, err == nil
	}
	res, err := cl.GetResource(ctx, connect.NewRequest(&clusterv1.GetResourceRequest{Type: upgrade.ResourceType, Id: upgrade.ResourceID, Stale: true}))
	if err != nil {
		return upgrade.Plan{}, false
	}
	var p upgrade.Plan
	if err := yaml.Unmarshal([]byte(res.Msg.GetResource().GetSpecYaml()), &p); err != nil {
		return upgrade.Plan{}, false
	}
	return p, true
}

// act does what the plan asks of this node now.
func (a *upgradeAgent) act(ctx context.Context, p upgrade.Plan) error {
	installed, err := a.installed()
	if err != nil {
		return err
	}
	trial := a.trial && !a.confirmed
	action, g := upgrade.NextNodeAction(p, upgrade.Self{Name: a.self, Version: version.Version, Trial: trial, Installed: installed})
	switch action {
	case upgrade.NodeInstall:
		return a.install(ctx, p, g)
	case upgrade.NodeConfirm:
		return a.confirm(ctx)
	case upgrade.NodeRollback:
		return a.rollback(ctx, p, g)
	}
	return nil
}

// rollback makes the other slot, which this node ran before the upgrade,
// the confirmed one: the boot stage restarts the node into it.
func (a *upgradeAgent) rollback(ctx context.Context, p upgrade.Plan, g upgrade.Grant) error {
	if a.slot == "" {
		return errNoBootSlots
	}
	if err := a.saveInstalled(g); err != nil {
		return err
	}
	a.log.Info("rolling back to the previous slot", "plan", g.Plan, "slot", boot.OtherSlot(a.slot), "target", p.TargetOf(a.self))
	_, err := boot.Do(ctx, a.stateDir, boot.Request{Op: boot.OpRollback})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("roll back to slot %s: %w", boot.OtherSlot(a.slot), err)
	}
	return nil
}

// install fetches and checks the artifact, writes it into the inactive
// slot, records the grant and tries the slot: the boot stage stops this
// node and starts the slot's binary. Nothing is written to a slot before
// the artifact is verified (Fetch checks its digest; a mismatch is not
// kept) and checked; a failure leaves the slots as they were and is tried
// again on the next pass, until the plan's install timeout fails the step.
func (a *upgradeAgent) install(ctx context.Context, p upgrade.Plan, g upgrade.Grant) error {
	if a.slot == "" {
		return errNoBootSlots
	}
	client, done := peerClient(a.tls, 10*time.Minute)
	defer done()
	info, err := a.artifacts.Fetch(ctx, p.Target.Digest, artifactSources(a.agent, a.self, client))
	if err != nil {
		return fmt.Errorf("fetch %s: %w", p.Target.Digest, err)
	}
	target, err := readArtifact(a.artifacts, info, runsFromImage(a.opts))
	if err != nil {
		return err
	}
	if target.Version != p.Target.Version {
		return fmt.Errorf("%w: artifact %s is version %s, the plan's target is %s", upgrade.ErrBadArtifact, info.Digest, target.Version, p.Target.Version)
	}
	path, err := a.artifacts.Path(info.Digest)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read the artifact: %w", err)
	}
	defer f.Close()
	slot := boot.OtherSlot(a.slot)
	if err := os.MkdirAll(boot.SlotDir(a.stateDir, slot), 0o700); err != nil {
		return fmt.Errorf("create slot %s: %w", slot, err)
	}
	if err := atomicfile.WriteFrom(boot.SlotBinary(a.stateDir, slot), f, 0o755); err != nil {
		return fmt.Errorf("write slot %s: %w", slot, err)
	}
	// Recorded before the try: a node that falls back must not install
	// this grant again (upgrade.Self.Installed).
	if err := a.saveInstalled(g); err != nil {
		return err
	}
	if a.forfeit != nil {
		fctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if err := a.forfeit(fctx); err != nil {
			a.log.Warn("hand etcd leadership over before the upgrade", "error", err)
		}
		cancel()
	}
	a.log.Info("installed the upgrade; trying its slot", "plan", g.Plan, "attempt", g.Attempt, "target", p.Target.Version, "slot", slot)
	// The boot stage stops this process to start the slot: the call
	// usually ends with it.
	_, err = boot.Do(ctx, a.stateDir, boot.Request{Op: boot.OpTry, Slot: slot, Tries: 1,
		ConfirmTimeout: p.Timeouts.Reboot + p.Timeouts.Verify})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("try slot %s: %w", slot, err)
	}
	return nil
}

// confirm confirms the slot on trial, which this node runs, and says so
// in gossip.
func (a *upgradeAgent) confirm(ctx context.Context) error {
	if _, err := boot.Do(ctx, a.stateDir, boot.Request{Op: boot.OpConfirm, Slot: a.slot}); err != nil {
		return fmt.Errorf("confirm slot %s: %w", a.slot, err)
	}
	a.confirmed = true
	m := bootMeta(a.opts, a.log)
	m.Trial = false
	a.agent.SetBoot(m)
	a.log.Info("confirmed the upgrade's slot", "slot", a.slot, "version", version.Version)
	return nil
}

func (a *upgradeAgent) installedPath() string { return filepath.Join(a.stateDir, installedFile) }

// installed reads the grant last installed (none: the zero grant).
func (a *upgradeAgent) installed() (upgrade.Grant, error) {
	var g upgrade.Grant
	b, err := os.ReadFile(a.installedPath())
	if errors.Is(err, fs.ErrNotExist) {
		return g, nil
	}
	if err != nil {
		return g, fmt.Errorf("read the installed grant: %w", err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return g, fmt.Errorf("read the installed grant %s: %w", a.installedPath(), err)
	}
	return g, nil
}

func (a *upgradeAgent) saveInstalled(g upgrade.Grant) error {
	if err := os.MkdirAll(filepath.Dir(a.installedPath()), 0o700); err != nil {
		return err
	}
	b, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return atomicfile.Write(a.installedPath(), b, 0o600)
}
