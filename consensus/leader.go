package consensus

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cairn-project/cairn/internal/backoff"
)

// LeaderHook is leader-only work: auto-join, rolling upgrades, etcd bootstrap.
// EstablishLeadership runs after this node became leader and its Barrier was
// applied, so the local state includes every write of earlier terms; ctx is
// cancelled when leadership is lost. RevokeLeadership runs after that, before
// the next EstablishLeadership. Hooks run one at a time, in registration order.
type LeaderHook interface {
	EstablishLeadership(ctx context.Context)
	RevokeLeadership()
}

// LeaderFunc adapts a function to LeaderHook: it runs in its own goroutine
// while this node leads, and must return soon after ctx is done.
type LeaderFunc func(ctx context.Context)

type leaderFuncHook struct {
	fn   LeaderFunc
	done chan struct{}
}

func (h *leaderFuncHook) EstablishLeadership(ctx context.Context) {
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		h.fn(ctx)
	}()
}

func (h *leaderFuncHook) RevokeLeadership() {
	if h.done != nil {
		<-h.done
	}
}

// leaderState tracks leadership as this store sees it, for the hooks and for
// linearizable reads.
type leaderState struct {
	// readyTerm is the term in which this node is leader and has applied its
	// establishing barrier; 0 when not. Reads use it (read.go).
	readyTerm atomic.Uint64

	mu     sync.Mutex
	hooks  []LeaderHook
	active bool // hooks established and not yet revoked
	cancel context.CancelFunc
	ctx    context.Context
}

// AddLeaderHook registers leader-only work. If this node already leads, the
// hook is established at once.
func (s *Store) AddLeaderHook(h LeaderHook) {
	l := &s.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hooks = append(l.hooks, h)
	if l.active {
		h.EstablishLeadership(l.ctx)
	}
}

// AddLeaderFunc registers fn to run while this node leads (see LeaderFunc).
func (s *Store) AddLeaderFunc(fn LeaderFunc) { s.AddLeaderHook(&leaderFuncHook{fn: fn}) }

func (l *leaderState) establish(log *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.active {
		return
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.active = true
	for _, h := range l.hooks {
		h.EstablishLeadership(l.ctx)
	}
	log.Info("leadership established", "hooks", len(l.hooks))
}

func (l *leaderState) revokeAll(log *slog.Logger) {
	l.readyTerm.Store(0)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.active {
		return
	}
	l.cancel()
	for _, h := range l.hooks {
		h.RevokeLeadership()
	}
	l.active = false
	log.Info("leadership revoked")
}

// runLeadership follows raft's leadership notifications. Consul's pattern:
// on gaining leadership, apply a Barrier so the FSM holds every committed
// write, then start leader-only work; on losing it, stop that work.
func (s *Store) runLeadership() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stopCh:
			s.leader.revokeAll(s.log)
			return
		case isLeader := <-s.notify:
			if !isLeader {
				s.leader.revokeAll(s.log)
				continue
			}
			s.establishLeadership()
		}
	}
}

// establishLeadership applies the barrier, retrying while this node stays
// leader, and marks the term ready for reads. Retries wait a constant
// HeartbeatTimeout (a backoff whose Max is its Initial); a lost leadership
// ends the wait at once through the notify channel.
func (s *Store) establishLeadership() {
	bo := backoff.Backoff{Initial: s.cfg.Timing.HeartbeatTimeout, Max: s.cfg.Timing.HeartbeatTimeout}
	for {
		term := s.raft.CurrentTerm()
		err := s.raft.Barrier(s.cfg.Timing.ApplyTimeout).Error()
		if err == nil && s.raft.State() == raft.Leader && s.raft.CurrentTerm() == term {
			// Raft §8: a new leader knows which entries are committed only
			// once an entry of its own term is; the barrier is such an entry.
			s.leader.readyTerm.Store(term)
			s.leader.establish(s.log)
			return
		}
		if s.raft.State() != raft.Leader {
			return
		}
		s.log.Warn("leadership barrier failed; retrying", "error", err)
		select {
		case <-s.stopCh:
			return
		case isLeader := <-s.notify:
			if !isLeader {
				s.leader.revokeAll(s.log)
				return
			}
		case <-time.After(bo.Next()):
		}
	}
}

// peerHealth is the leader's view of each follower's heartbeats, from raft
// observations (raft exposes no per-follower last-contact API).
//
// Observations come from several raft goroutines with no order between
// them. When a server is removed, raft stops its replication goroutine, but
// that goroutine's heartbeat loop keeps running until the stop completes and
// may report one more failure after the removal was observed. Counting that
// late report would mark the server failing again; if it is re-added (a
// restarted node), its new heartbeat loop succeeds from the start and never
// reports a resumption, so the mark would stay forever and the server would
// never be promoted (issue 9, item 1). A failure report carries the last
// contact of the loop that sent it: a loop started after the removal has a
// later one, so reports whose last contact predates the removal are stale.
// The same holds across leaderships: loops of an earlier term of this node
// may report after it leads again, and every loop of the new term starts
// after the leader observation.
//
// Should a stale report slip past these rules in an order not foreseen
// here, it still cannot stick: a failing loop reports again at least every
// lapse (its RPC timeout plus its capped backoff), so a mark that no report
// renewed for that long has no loop behind it any more and lapses.
type peerHealth struct {
	mu      sync.Mutex
	failing map[raft.ServerID]failure
	removed map[raft.ServerID]time.Time // peer → when its removal was observed
	epoch   time.Time                   // when the current leadership was observed
	lapse   time.Duration               // zero: marks never lapse
	now     func() time.Time
}

// failure is one peer's failing heartbeats.
type failure struct {
	lastContact time.Time // before failures began
	reported    time.Time // the latest failure report
}

func (p *peerHealth) observe(o *raft.Observation) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch d := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		if !d.LastContact.After(p.epoch) {
			return false // from a loop of an earlier leadership
		}
		if at, ok := p.removed[d.PeerID]; ok && !d.LastContact.After(at) {
			return false // from the replication of a removed incarnation
		}
		if p.failing == nil {
			p.failing = map[raft.ServerID]failure{}
		}
		f, ok := p.failing[d.PeerID]
		if !ok {
			f.lastContact = d.LastContact
		}
		f.reported = p.clock()
		p.failing[d.PeerID] = f
	case raft.ResumedHeartbeatObservation:
		delete(p.failing, d.PeerID)
	case raft.PeerObservation:
		// A new replication starts with a fresh contact time either way.
		delete(p.failing, d.Peer.ID)
		if d.Removed {
			if p.removed == nil {
				p.removed = map[raft.ServerID]time.Time{}
			}
			p.removed[d.Peer.ID] = p.clock()
		}
	case raft.LeaderObservation:
		p.failing, p.removed, p.epoch = nil, nil, p.clock()
	}
	return false
}

func (p *peerHealth) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// lastFailure returns when a failing peer was last heard from.
func (p *peerHealth) lastFailure(id raft.ServerID) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.failing[id]
	if ok && p.lapse > 0 && p.clock().Sub(f.reported) > p.lapse {
		delete(p.failing, id)
		return time.Time{}, false
	}
	return f.lastContact, ok
}
