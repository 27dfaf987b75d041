package etcdmembers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cairn-project/cairn/node/cluster/etcdboot"
)

// Fault points: the coordinator calls Config.Fault with these names at the
// moments a leader crash is most likely to leave a change half done, so
// integration tests can kill the leader there (DESIGN.md, "Fault points").
const (
	// FaultAfterDecide: the EtcdBootstrap record is stored, the membership
	// record is not.
	FaultAfterDecide = "etcd-after-decide"
	// FaultAfterIntent: a change is recorded as Pending, not yet sent to etcd.
	FaultAfterIntent = "etcd-after-intent"
	// FaultAfterMemberAdd: etcd added the learner; the record does not
	// name it yet.
	FaultAfterMemberAdd = "etcd-after-member-add"
	// FaultAfterPromote: etcd promoted the learner; Pending is not cleared.
	FaultAfterPromote = "etcd-after-promote"
	// FaultAfterRemove: etcd removed the member; Pending is not cleared.
	FaultAfterRemove = "etcd-after-remove"
)

// Node is a control plane of the stored cluster config, as the leader's
// view (gossip) has it.
type Node struct {
	Name string
	// StateID is the node's current state ID (its gossip metadata).
	StateID string
	// PeerURL and ClientURL are https://IP:2380 and https://IP:2379.
	PeerURL, ClientURL string
	// Alive is the node's gossip state; DeadSince is when it was seen dead
	// or left (zero while alive, suspect or unknown).
	Alive     bool
	DeadSince time.Time
	// EtcdSettings is what the node reports its member runs with (its
	// gossip metadata): config.EtcdSettingsHash of the extra arguments,
	// once that member is healthy; empty before.
	EtcdSettings string
}

// Config is what a Coordinator needs; Store, Self, View and Dial are
// required.
type Config struct {
	// Store is the Raft store (the leader's).
	Store Store
	// Self is this leader's own node: the bootstrap member when it decides.
	Self Node
	// View returns the control planes the stored cluster config lists, by
	// name, with their gossip state; ok is false while that is unknown (no
	// config stored yet). Without a view only recorded changes are finished
	// and learners promoted: nothing is added or removed.
	View func(ctx context.Context) (nodes map[string]Node, ok bool)
	// Dial returns an etcd client of the given client URLs (DialTLS).
	Dial func(endpoints []string) (Cluster, error)
	// Interval is the pass period; Hints wake extra passes (default 1s).
	Interval time.Duration
	// DeadGrace is how long a member's node must be dead in gossip before
	// it is removed (default 30s).
	DeadGrace time.Duration
	// LearnerStartTimeout is how long an added learner may stay unstarted
	// before it is removed, so it does not block other joins (default 2m).
	LearnerStartTimeout time.Duration
	// CallTimeout bounds each etcd call (default 5s).
	CallTimeout time.Duration
	Logger      *slog.Logger
	// Hints wake a pass (gossip changes); sends should not block.
	Hints <-chan struct{}
	// Fault is called at the named fault points; nil in production.
	Fault func(point string)
	// Settings returns the etcd settings the stored config asks for
	// (config.EtcdSettingsHash of cluster.etcd.extraArgs); ok=false while
	// unknown. Nil rolls nothing out.
	Settings func(ctx context.Context) (hash string, ok bool)
}

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = time.Second
	}
	if c.DeadGrace == 0 {
		c.DeadGrace = 30 * time.Second
	}
	if c.LearnerStartTimeout == 0 {
		c.LearnerStartTimeout = 2 * time.Minute
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Coordinator keeps etcd's membership in step with the cluster config, on
// the Raft leader only. It holds no state between passes.
type Coordinator struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// New returns a coordinator; Run it as a consensus.LeaderFunc.
func New(cfg Config) (*Coordinator, error) {
	if cfg.Store == nil || cfg.View == nil || cfg.Dial == nil {
		return nil, errors.New("etcd membership coordinator needs a store, a view and a dialer")
	}
	if cfg.Self.Name == "" || cfg.Self.PeerURL == "" {
		return nil, errors.New("etcd membership coordinator needs this node's name and peer URL")
	}
	cfg = cfg.withDefaults()
	return &Coordinator{cfg: cfg, log: cfg.Logger.With("component", "etcd-members"), now: time.Now}, nil
}

// Run passes on every hint and every interval until ctx is done (leadership
// lost). It has the signature of a consensus.LeaderFunc.
func (c *Coordinator) Run(ctx context.Context) {
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		switch err := c.pass(ctx); {
		case err == nil || ctx.Err() != nil:
		case errors.Is(err, errWait):
			c.log.Info("etcd membership pass waits", "reason", err)
		default:
			c.log.Warn("etcd membership pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.cfg.Hints:
		case <-tick.C:
		}
	}
}

// round is one pass's inputs, read afresh every pass.
type round struct {
	now    time.Time
	boot   etcdboot.Record
	rec    Record
	view   map[string]Node
	viewOK bool
	// settings is the etcd settings the stored config asks for ("" when
	// unknown).
	settings string
	cluster  Cluster
}

// pass makes at most one membership change (or one step of the recorded
// one). The steps are DESIGN.md's, in order.
func (c *Coordinator) pass(ctx context.Context) error {
	r := &round{now: c.now()}
	r.view, r.viewOK = c.cfg.View(ctx)
	if c.cfg.Settings != nil {
		if h, ok := c.cfg.Settings(ctx); ok {
			r.settings = h
		}
	}
	boot, err := c.bootstrap(ctx)
	if err != nil {
		return err
	}
	r.boot = boot
	if r.rec, err = c.record(ctx, r); err != nil {
		return err
	}
	eps := endpoints(r)
	if len(eps) == 0 {
		return ErrNoEndpoint
	}
	cl, err := c.cfg.Dial(eps)
	if err != nil {
		return fmt.Errorf("dial etcd: %w", err)
	}
	defer cl.Close()
	r.cluster = cl
	if r.rec.Pending != nil {
		return c.finish(ctx, r)
	}
	if err := c.observe(ctx, r); err != nil {
		return err
	}
	return c.changeOne(ctx, r)
}

// bootstrap returns the EtcdBootstrap record, deciding it (this leader as
// the one initial member) if nobody has.
func (c *Coordinator) bootstrap(ctx context.Context) (etcdboot.Record, error) {
	boot, err := etcdboot.Get(ctx, c.cfg.Store)
	if !errors.Is(err, etcdboot.ErrNotDecided) {
		return boot, err
	}
	self := etcdboot.Member{Name: c.cfg.Self.Name, PeerURL: c.cfg.Self.PeerURL, StateID: c.cfg.Self.StateID}
	boot, err = etcdboot.Decide(ctx, c.cfg.Store, self)
	var exists *etcdboot.ExistsError
	if errors.As(err, &exists) {
		return exists.Record, nil // decided meanwhile, by an earlier term
	}
	if err != nil {
		return etcdboot.Record{}, err
	}
	c.log.Info("etcd bootstrap decided", "generation", boot.Generation, "member", self.Name)
	c.fault(FaultAfterDecide)
	return boot, nil
}

// record returns the membership record of the bootstrap generation,
// writing the initial one (the bootstrap members, IDs unknown) when there
// is none or it describes an older generation.
func (c *Coordinator) record(ctx context.Context, r *round) (Record, error) {
	rec, err := Get(ctx, c.cfg.Store)
	switch {
	case errors.Is(err, ErrNoRecord):
		rec, err = create(ctx, c.cfg.Store, c.initial(r))
		if err == nil {
			c.log.Info("etcd membership record written", "generation", rec.Generation, "members", len(rec.Members))
		}
		return rec, err
	case err != nil:
		return Record{}, err
	case rec.Generation > r.boot.Generation:
		return Record{}, fmt.Errorf("etcd membership describes generation %d, bootstrap record %d", rec.Generation, r.boot.Generation)
	case rec.Generation < r.boot.Generation:
		// Disaster recovery decided a new generation: its initial members
		// start a new cluster; the old membership means nothing to it.
		next := c.initial(r)
		next.Version = rec.Version
		c.log.Info("etcd bootstrap generation changed; membership restarts from its initial members",
			"old", rec.Generation, "new", next.Generation)
		return update(ctx, c.cfg.Store, next, "")
	}
	return rec, nil
}

// initial is the membership of a generation before etcd answers: its
// initial members, with no IDs.
func (c *Coordinator) initial(r *round) Record {
	rec := Record{Generation: r.boot.Generation}
	for _, m := range r.boot.InitialMembers {
		mem := Member{Name: m.Name, StateID: m.StateID, PeerURL: m.PeerURL, Settings: r.settings}
		if m.Name == c.cfg.Self.Name {
			mem.ClientURL = c.cfg.Self.ClientURL
		} else if n, ok := r.view[m.Name]; ok {
			mem.ClientURL = n.ClientURL
		}
		rec.Members = append(rec.Members, mem)
	}
	return rec
}

// endpoints are the client URLs of the record's voters (learners serve no
// cluster API), from the record or, for a member not observed yet, from
// the view.
func endpoints(r *round) []string {
	var out []string
	for _, m := range r.rec.Members {
		if m.Learner {
			continue
		}
		u := m.ClientURL
		if n, ok := r.view[m.Name]; u == "" && ok && n.StateID == m.StateID {
			u = n.ClientURL
		}
		if u != "" {
			out = append(out, u)
		}
	}
	return out
}

func (c *Coordinator) fault(point string) {
	if c.cfg.Fault != nil {
		c.cfg.Fault(point)
	}
}

// call bounds one etcd call.
func (c *Coordinator) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.CallTimeout)
}
