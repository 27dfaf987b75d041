package upgrade

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/cairn-project/cairn/consensus"
)

// Store is the subset of consensus.Store the plan uses.
type Store interface {
	Get(ctx context.Context, typ, id string, mode consensus.ReadMode) (consensus.Resource, uint64, error)
	Create(ctx context.Context, typ, id string, spec []byte, opts ...consensus.WriteOption) (consensus.WriteResult, error)
	Update(ctx context.Context, typ, id string, spec []byte, expectedVersion uint64, opts ...consensus.WriteOption) (consensus.WriteResult, error)
}

// Get reads the plan, linearizably; ErrNoPlan before the first start.
func Get(ctx context.Context, s Store) (Plan, error) {
	r, _, err := s.Get(ctx, ResourceType, ResourceID, consensus.Linearizable)
	if errors.Is(err, consensus.ErrNotFound) {
		return Plan{}, ErrNoPlan
	}
	if err != nil {
		return Plan{}, fmt.Errorf("read upgrade plan: %w", err)
	}
	return Decode(r)
}

// Decode turns the stored resource into a Plan.
func Decode(r consensus.Resource) (Plan, error) {
	var p Plan
	if err := json.Unmarshal(r.Spec, &p); err != nil {
		return Plan{}, fmt.Errorf("upgrade plan does not decode: %w", err)
	}
	p.Version = r.Version
	return p, nil
}

// Start stores p as the plan: created, or replacing a finished one. A
// plan that is running or paused is not replaced: ErrPlanExists names it.
func Start(ctx context.Context, s Store, p Plan) error {
	old, err := Get(ctx, s)
	switch {
	case errors.Is(err, ErrNoPlan):
		return put(ctx, s, p, 0, true)
	case err != nil:
		return err
	case !old.Phase.Finished():
		return fmt.Errorf("%w: plan %s is %s (pause, resume or abort it)", ErrPlanExists, old.ID, old.Phase)
	}
	return put(ctx, s, p, old.Version, false)
}

// Change applies fn to the stored plan and compare-and-sets the result
// (an operator's pause, resume or abort); a plan changed meanwhile is read
// again and fn applied again.
func Change(ctx context.Context, s Store, fn func(Plan) (Plan, error)) (Plan, error) {
	for {
		p, err := Get(ctx, s)
		if err != nil {
			return Plan{}, err
		}
		next, err := fn(p)
		if err != nil {
			return Plan{}, err
		}
		err = put(ctx, s, next, p.Version, false)
		if errors.Is(err, consensus.ErrConflict) {
			continue
		}
		if err != nil {
			return Plan{}, err
		}
		return next, nil
	}
}

// put creates or compare-and-sets the plan; an unknown outcome is sent once
// more with the same request ID (the store applies it at most once).
func put(ctx context.Context, s Store, p Plan, version uint64, create bool) error {
	spec, err := json.Marshal(p)
	if err != nil {
		return err
	}
	reqID := consensus.NewRequestID()
	write := func() error {
		if create {
			_, err := s.Create(ctx, ResourceType, ResourceID, spec, consensus.WithRequestID(reqID))
			return err
		}
		_, err := s.Update(ctx, ResourceType, ResourceID, spec, version, consensus.WithRequestID(reqID))
		return err
	}
	err = write()
	if errors.Is(err, consensus.ErrOutcomeUnknown) {
		err = write()
	}
	if err != nil {
		return fmt.Errorf("write upgrade plan: %w", err)
	}
	return nil
}

// CoordinatorConfig configures the leader's coordinator.
type CoordinatorConfig struct {
	Store Store
	// View reads the cluster for one pass of plan p (the Kubernetes
	// fields of the nodes p has in progress or failed); false when it
	// cannot be known now (the pass waits).
	View func(ctx context.Context, p Plan) (View, bool)
	// TransferLeadership hands Raft leadership to another voter.
	TransferLeadership func(ctx context.Context) error
	// Drain cordons a node's Kubernetes Node and evicts what its pods'
	// disruption budgets allow now; Uncordon makes it schedulable. Each is
	// asked again on the next pass until the view shows it took: an
	// error is logged, not fatal. Nil: the cluster runs no kubelets (a
	// node that says it runs one then fails its drain at the timeout).
	Drain, Uncordon func(ctx context.Context, node string) error
	// Interval between passes (a second when zero); Wake hints a pass
	// sooner (gossip changes only wake it), but never sooner than MinGap
	// after the last (Interval/5 when zero): gossip changes with every
	// config write, and a pass observes the whole cluster.
	Interval time.Duration
	Wake     <-chan struct{}
	MinGap   time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// Coordinator runs the plan on the Raft leader.
type Coordinator struct {
	cfg CoordinatorConfig
	log *slog.Logger
}

// NewCoordinator returns a coordinator; Run it as a consensus.LeaderFunc
// (after the leader's barrier, stopped on revoke).
func NewCoordinator(cfg CoordinatorConfig) (*Coordinator, error) {
	if cfg.Store == nil || cfg.View == nil || cfg.TransferLeadership == nil {
		return nil, errors.New("upgrade coordinator needs a store, View and TransferLeadership")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.MinGap <= 0 {
		cfg.MinGap = cfg.Interval / 5
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Coordinator{cfg: cfg, log: cfg.Logger.With("component", "upgrade")}, nil
}

// Run passes every interval, or when woken, until ctx ends.
func (c *Coordinator) Run(ctx context.Context) {
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		last := time.Now()
		if err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("upgrade pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.cfg.Wake:
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(last.Add(c.cfg.MinGap))):
			}
		}
	}
}

// Pass runs Decide once over the stored plan and writes what changed.
func (c *Coordinator) Pass(ctx context.Context) error {
	p, err := Get(ctx, c.cfg.Store)
	if errors.Is(err, ErrNoPlan) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Phase.Finished() {
		return nil
	}
	v, ok := c.cfg.View(ctx, p)
	if !ok {
		return nil
	}
	next, actions := Decide(p, v, c.cfg.Now())
	if !reflect.DeepEqual(next, p) {
		if err := put(ctx, c.cfg.Store, next, p.Version, false); err != nil {
			return err // a conflict (an operator's change): the next pass reads it
		}
		c.logChanges(p, next)
	}
	var errs []error
	for _, a := range actions {
		switch a.Kind {
		case ActionTransferLeadership:
			c.log.Info("handing Raft leadership over before upgrading this node")
			if err := c.cfg.TransferLeadership(ctx); err != nil {
				return fmt.Errorf("transfer leadership: %w", err)
			}
		case ActionDrain, ActionUncordon:
			fn := c.cfg.Drain
			if a.Kind == ActionUncordon {
				fn = c.cfg.Uncordon
			}
			if fn == nil {
				errs = append(errs, fmt.Errorf("%s %s: this cluster runs no kubelets", a.Kind, a.Node))
				continue
			}
			if err := fn(ctx, a.Node); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", a.Kind, a.Node, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (c *Coordinator) logChanges(p, next Plan) {
	for _, name := range next.Names() {
		was, now := p.Steps[name], next.Steps[name]
		if was.State != now.State {
			c.log.Info("upgrade step", "plan", next.ID, "member", name, "from", was.State, "to", now.State, "reason", now.Reason)
		}
	}
	if p.Phase != next.Phase {
		c.log.Info("upgrade plan", "plan", next.ID, "phase", next.Phase, "reason", next.Reason)
	}
}

// StartRollback replaces the stored plan (paused, aborted or done) with
// its rollback (Rollback), compare-and-set on the plan read; versions are
// the nodes' versions now.
func StartRollback(ctx context.Context, s Store, versions map[string]string, now time.Time) (Plan, error) {
	p, err := Get(ctx, s)
	if err != nil {
		return Plan{}, err
	}
	rb, err := Rollback(p, versions, now)
	if err != nil {
		return Plan{}, err
	}
	if err := put(ctx, s, rb, p.Version, false); err != nil {
		return Plan{}, err
	}
	return Get(ctx, s)
}
