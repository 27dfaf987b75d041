// Package rollout restarts a service on one node at a time when the
// settings the cluster config asks of it change: the Raft leader grants
// the new settings to one node, waits until that node reports it runs them
// and is healthy, then grants the next. A grant is a compare-and-set on a
// record in Raft (type Rollout, one ID per thing rolled out), so a new
// leader continues where the old one stopped, and every node reads its
// grant from its replica. etcd's settings have their own, older copy of
// this rule inside etcd's membership record (node/cluster/etcdmembers).
//
// The rule, each pass, level-triggered:
//   - a node the record has never granted anything, or that already runs
//     what the config wants (it started fresh with them: a new cluster, a
//     new node, a wiped one), is granted them at once: that is no restart;
//     nodes the view no longer lists lose their grants;
//   - otherwise wait while any node is not alive and healthy, or runs
//     other settings than it was granted (it is restarting);
//   - then grant the wanted settings to the next node that lacks them, by
//     name, the leader's own node last.
package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cairn-project/cairn/consensus"
)

// ResourceType is the Raft resource type of rollout records.
const ResourceType = "Rollout"

// Record is one rollout's grants: the settings each node may run.
type Record struct {
	Granted map[string]string `json:"granted"`
	// Version is the stored version the record was read at; not stored.
	Version uint64 `json:"-"`
}

// Node is one node as the leader sees it: the settings it reports it runs
// (empty: none yet), and whether it is alive and its service healthy.
type Node struct {
	Name    string
	Running string
	Healthy bool
}

// Store is the subset of consensus.Store a rollout uses.
type Store interface {
	Get(ctx context.Context, typ, id string, mode consensus.ReadMode) (consensus.Resource, uint64, error)
	Create(ctx context.Context, typ, id string, spec []byte, opts ...consensus.WriteOption) (consensus.WriteResult, error)
	Update(ctx context.Context, typ, id string, spec []byte, expectedVersion uint64, opts ...consensus.WriteOption) (consensus.WriteResult, error)
}

// Config configures one rollout's coordinator.
type Config struct {
	Store Store
	// ID names the rollout (its record's ID), e.g. "kubernetes-control-plane".
	ID string
	// Self is the leader's own node name: granted last.
	Self string
	// Want returns the settings the stored config asks for; false when
	// they cannot be known now (the pass waits).
	Want func(ctx context.Context) (string, bool)
	// View returns the nodes that run the service; false when unknown.
	View func(ctx context.Context) ([]Node, bool)
	// Interval between passes (a second when zero).
	Interval time.Duration
	Logger   *slog.Logger
}

// Coordinator runs one rollout on the Raft leader.
type Coordinator struct {
	cfg Config
	log *slog.Logger
}

// New returns a coordinator; Run it as a consensus.LeaderFunc.
func New(cfg Config) (*Coordinator, error) {
	if cfg.Store == nil || cfg.ID == "" || cfg.Want == nil || cfg.View == nil {
		return nil, errors.New("rollout needs a store, an ID, Want and View")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Coordinator{cfg: cfg, log: cfg.Logger.With("component", "rollout", "rollout", cfg.ID)}, nil
}

// Run passes every interval until ctx is done (leadership lost).
func (c *Coordinator) Run(ctx context.Context) {
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	for {
		if err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("rollout pass failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Pass makes at most one restarting grant (and any number of bookkeeping
// ones: first grants, and nodes that already run what is wanted), as the
// package comment says.
func (c *Coordinator) Pass(ctx context.Context) error {
	want, ok := c.cfg.Want(ctx)
	if !ok || want == "" {
		return nil
	}
	nodes, ok := c.cfg.View(ctx)
	if !ok {
		return nil
	}
	rec, err := Get(ctx, c.cfg.Store, c.cfg.ID)
	if err != nil && !errors.Is(err, ErrNoRecord) {
		return err
	}
	next := map[string]string{}
	for _, n := range nodes {
		granted, had := rec.Granted[n.Name]
		if !had || n.Running == want {
			granted = want
		}
		next[n.Name] = granted
	}
	if maps.Equal(next, rec.Granted) {
		name, ok := c.choose(next, nodes, want)
		if !ok {
			return nil
		}
		c.log.Info("settings granted", "node", name, "settings", want, "was", next[name])
		next[name] = want
	}
	return put(ctx, c.cfg.Store, c.cfg.ID, Record{Granted: next, Version: rec.Version}, errors.Is(err, ErrNoRecord))
}

// choose picks the node to grant want next, or none while the rollout
// must wait. A node that is down or restarting holds the others back; but
// one that is down with settings other than want may have them at once —
// it is out already, and a broken grant must be replaceable by a fixed one.
func (c *Coordinator) choose(granted map[string]string, nodes []Node, want string) (string, bool) {
	var pending, down []string
	for _, n := range nodes {
		g := granted[n.Name]
		switch {
		case !n.Healthy || n.Running != g:
			if g != want {
				down = append(down, n.Name)
			} else {
				return "", false // restarting into its grant: one at a time
			}
		case g != want:
			pending = append(pending, n.Name)
		}
	}
	if len(down) > 0 {
		pending = down
	}
	if len(pending) == 0 {
		return "", false
	}
	slices.SortFunc(pending, func(a, b string) int {
		switch {
		case a == c.cfg.Self:
			return 1
		case b == c.cfg.Self:
			return -1
		}
		return strings.Compare(a, b)
	})
	return pending[0], true
}

// ErrNoRecord is returned by Get when the rollout has no record yet.
var ErrNoRecord = errors.New("no rollout record")

// Get reads rollout id's record, linearizably.
func Get(ctx context.Context, s Store, id string) (Record, error) {
	r, _, err := s.Get(ctx, ResourceType, id, consensus.Linearizable)
	if errors.Is(err, consensus.ErrNotFound) {
		return Record{}, ErrNoRecord
	}
	if err != nil {
		return Record{}, fmt.Errorf("read rollout %s: %w", id, err)
	}
	return Decode(r)
}

// Decode turns a stored record resource into a Record.
func Decode(r consensus.Resource) (Record, error) {
	var rec Record
	if err := json.Unmarshal(r.Spec, &rec); err != nil {
		return Record{}, fmt.Errorf("rollout record %s does not decode: %w", r.ID, err)
	}
	rec.Version = r.Version
	return rec, nil
}

// put creates or compare-and-sets the record; an unknown outcome is sent
// once more with the same request ID (the store applies it at most once).
func put(ctx context.Context, s Store, id string, rec Record, create bool) error {
	spec, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	reqID := consensus.NewRequestID()
	write := func() error {
		if create {
			_, err := s.Create(ctx, ResourceType, id, spec, consensus.WithRequestID(reqID))
			return err
		}
		_, err := s.Update(ctx, ResourceType, id, spec, rec.Version, consensus.WithRequestID(reqID))
		return err
	}
	err = write()
	if errors.Is(err, consensus.ErrOutcomeUnknown) {
		err = write()
	}
	if err != nil {
		return fmt.Errorf("write rollout %s: %w", id, err)
	}
	return nil
}
