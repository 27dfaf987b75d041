package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Node is this machine's membership in the cluster's gossip: it advertises
// the local Meta, keeps a view of every member and hints when that view
// changes. It decides nothing; see the package comment.
type Node struct {
	cfg        Config
	log        *slog.Logger
	ml         *memberlist.Memberlist
	keyring    *memberlist.Keyring
	table      *table
	status     statusTracker
	hints      chan struct{}
	broadcasts *memberlist.TransmitLimitedQueue

	metaMu    sync.Mutex
	meta      Meta
	metaBytes []byte

	// mu is held for reading while memberlist is in use and for writing
	// to shut it down, so Close never races a join or a leave.
	mu      sync.RWMutex
	closed  bool
	refused bool
	// addr is this node's own gossip address, fixed at New: memberlist's
	// LocalNode dereferences the local entry, which its reaper deletes
	// some time after a Leave.
	addr string
	// left is set by Leave: the node stops contacting others (Reconnect),
	// which would rejoin it.
	left atomic.Bool
}

// New validates cfg, binds the gossip port and starts memberlist, alone:
// call Join to find the cluster. Close releases it.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new gossip node: %w", err)
	}
	cfg.Key = append([]byte(nil), cfg.Key...)
	metaBytes, err := EncodeMeta(cfg.Meta)
	if err != nil {
		return nil, fmt.Errorf("new gossip node: %w", err)
	}
	keyring, err := memberlist.NewKeyring(nil, cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("new gossip node: %w: %w", ErrInvalidKey, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		cfg:       cfg,
		log:       logger.With("component", "gossip", "node", cfg.Name),
		keyring:   keyring,
		table:     newTable(cfg.DeadRetention, cfg.maxSuspicion, time.Now),
		hints:     make(chan struct{}, 1),
		metaBytes: metaBytes,
	}
	n.meta = cfg.Meta
	n.meta.Name = cfg.Name
	n.broadcasts = &memberlist.TransmitLimitedQueue{
		NumNodes:       n.table.countAlive,
		RetransmitMult: cfg.RetransmitMult,
	}
	ml, err := memberlist.Create(n.memberlistConfig())
	if err != nil {
		return nil, fmt.Errorf("start gossip on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	n.ml = ml
	n.addr = addrPortOf(ml.LocalNode()).String()
	n.log.Info("gossip started", "addr", n.addr, "cluster", cfg.ClusterID)
	return n, nil
}

// memberlistConfig translates n.cfg; the timing values come from the
// profile the caller started from.
func (n *Node) memberlistConfig() *memberlist.Config {
	c := n.cfg
	bridge := &logBridge{
		log: n.log,
		labelMismatch: func() {
			n.status.update(func(s *Status) { s.LabelMismatches++ })
		},
		decryptFailed: func() {
			n.status.update(func(s *Status) { s.DecryptFailures++ })
		},
		suspect: func(name string) {
			if n.table.suspect(name) {
				n.hint()
			}
		},
	}
	d := delegate{n: n}

	mc := memberlist.DefaultLANConfig()
	mc.Name = c.Name
	mc.BindAddr, mc.BindPort = c.BindAddr, c.BindPort
	mc.AdvertiseAddr, mc.AdvertisePort = c.AdvertiseAddr, c.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = c.BindPort
	}
	mc.Label = c.label()
	mc.SkipInboundLabelCheck = false
	mc.Keyring = n.keyring
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true

	mc.ProbeInterval, mc.ProbeTimeout = c.ProbeInterval, c.ProbeTimeout
	mc.IndirectChecks = c.IndirectChecks
	mc.SuspicionMult, mc.SuspicionMaxTimeoutMult = c.SuspicionMult, c.SuspicionMaxTimeoutMult
	mc.GossipInterval, mc.GossipNodes = c.GossipInterval, c.GossipNodes
	mc.RetransmitMult = c.RetransmitMult
	mc.PushPullInterval = c.PushPullInterval
	mc.TCPTimeout = c.StreamTimeout
	mc.GossipToTheDeadTime = c.GossipToTheDeadTime
	mc.DeadNodeReclaimTime = c.DeadNodeReclaimTime
	mc.EnableCompression = c.Compress

	mc.Delegate, mc.Events, mc.Conflict, mc.Alive, mc.Ping = d, d, d, d, d
	mc.Logger = bridge.logger()
	return mc
}

// Name returns this node's gossip name.
func (n *Node) Name() string { return n.cfg.Name }

// Addr returns the address other nodes reach this one at, suitable as a
// seed for Join; with BindPort 0 it carries the port actually bound.
func (n *Node) Addr() string { return n.addr }

// Hints returns a channel that receives a value, without ever blocking
// gossip, after the membership view changes: a join, a metadata update, a
// suspicion, a death, a leave, a refused name conflict. Several changes may
// collapse into one value; a consumer reacts by reading Members and
// reconciling, as a Raft leader does before changing its configuration.
func (n *Node) Hints() <-chan struct{} { return n.hints }

// hint signals Hints without blocking.
func (n *Node) hint() {
	select {
	case n.hints <- struct{}{}:
	default:
	}
}

// Members returns this node's view of the cluster, sorted by name,
// including itself and members dead or left within Config.DeadRetention.
func (n *Node) Members() []Member {
	n.clearRefuted()
	return n.table.snapshot()
}

// Member returns one member of this node's view, by name.
func (n *Node) Member(name string) (Member, bool) {
	n.clearRefuted()
	return n.table.get(name)
}

// clearRefuted ends suspicions that memberlist has seen refuted. A suspect
// refutes by gossiping a newer incarnation, which memberlist applies without
// telling any delegate; without this, the table would hold the member
// suspect until this node happens to probe it again (with 100 members, a
// minute or more) or the longest suspicion time passes.
func (n *Node) clearRefuted() {
	alive := map[string]bool{}
	for _, m := range n.ml.Members() {
		if m.State == memberlist.StateAlive {
			alive[m.Name] = true
		}
	}
	n.table.clearRefuted(alive)
}

// LocalMeta returns the metadata this node advertises.
func (n *Node) LocalMeta() Meta {
	n.metaMu.Lock()
	defer n.metaMu.Unlock()
	return n.meta
}

// Status returns what this node has refused and how healthy its own
// probing is.
func (n *Node) Status() Status {
	s := n.status.snapshot()
	s.HealthScore = n.ml.GetHealthScore()
	return s
}

// UpdateMeta replaces the advertised metadata (m.Name is ignored) and
// waits, until ctx ends or Config.BroadcastTimeout passes, for the update
// to be gossiped. The new metadata is in effect locally, and reaches every
// member through push/pull eventually, even if that wait times out.
func (n *Node) UpdateMeta(ctx context.Context, m Meta) error {
	b, err := EncodeMeta(m)
	if err != nil {
		return fmt.Errorf("update meta: %w", err)
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if err := n.usableLocked(); err != nil {
		return fmt.Errorf("update meta: %w", err)
	}
	timeout, err := n.broadcastTimeout(ctx)
	if err != nil {
		return fmt.Errorf("update meta: %w", err)
	}
	m.Name = n.cfg.Name
	n.metaMu.Lock()
	n.meta, n.metaBytes = m, b
	n.metaMu.Unlock()
	if err := n.ml.UpdateNode(timeout); err != nil {
		return fmt.Errorf("update meta: %w", err)
	}
	return nil
}

// Leave announces that this node is leaving, so members record it as
// StateLeft (which a Raft leader may act on at once) rather than
// StateDead. The node keeps answering gossip until Close. Leave must not
// follow a refused name conflict: it would evict the name's rightful owner,
// so it returns ErrNameConflict instead.
func (n *Node) Leave(ctx context.Context) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if err := n.usableLocked(); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	timeout, err := n.broadcastTimeout(ctx)
	if err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	// Announce the intent first and let it go out: memberlist's own leave
	// message is indistinguishable from a death once delivered.
	n.table.leaveIntent(n.cfg.Name)
	if n.table.countAlive() > 1 {
		done := make(chan struct{})
		n.broadcasts.QueueBroadcast(newLeaveIntent(n.cfg.Name, done))
		timer := time.NewTimer(timeout)
		select {
		case <-done:
		case <-timer.C:
			n.log.Warn("leave intent not sent in time", "timeout", timeout)
		}
		timer.Stop()
	}
	n.left.Store(true)
	if err := n.ml.Leave(timeout); err != nil {
		return fmt.Errorf("leave: %w", err)
	}
	n.log.Info("left cluster")
	return nil
}

// Close stops gossip without announcing a leave (see Leave), closes the
// sockets and waits for memberlist's listeners to stop. It is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	if err := n.ml.Shutdown(); err != nil {
		return fmt.Errorf("close gossip: %w", err)
	}
	n.log.Info("gossip stopped")
	return nil
}

// usableLocked returns why memberlist may no longer be used, if so.
func (n *Node) usableLocked() error {
	switch {
	case n.refused:
		return ErrNameConflict
	case n.closed:
		return ErrClosed
	}
	return nil
}

// broadcastTimeout is how long to wait for a broadcast: the configured
// timeout, cut short by ctx's deadline. Memberlist waits forever on zero,
// so a ctx already done is an error instead.
func (n *Node) broadcastTimeout(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	d := n.cfg.BroadcastTimeout
	if deadline, ok := ctx.Deadline(); ok {
		d = min(d, max(time.Until(deadline), time.Millisecond))
	}
	return d, nil
}
