package consensus

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
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
// leader, and marks the term ready for reads.
func (s *Store) establishLeadership() {
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
		case <-time.After(s.cfg.Timing.HeartbeatTimeout):
		}
	}
}

// peerHealth is the leader's view of each follower's heartbeats, from raft
// observations (raft exposes no per-follower last-contact API).
type peerHealth struct {
	mu      sync.Mutex
	failing map[raft.ServerID]time.Time // peer → last contact before failures began
}

func (p *peerHealth) observe(o *raft.Observation) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch d := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		if p.failing == nil {
			p.failing = map[raft.ServerID]time.Time{}
		}
		if _, ok := p.failing[d.PeerID]; !ok {
			p.failing[d.PeerID] = d.LastContact
		}
	case raft.ResumedHeartbeatObservation:
		delete(p.failing, d.PeerID)
	case raft.PeerObservation:
		if d.Removed {
			delete(p.failing, d.Peer.ID)
		}
	case raft.LeaderObservation:
		p.failing = nil
	}
	return false
}

// lastFailure returns when a failing peer was last heard from.
func (p *peerHealth) lastFailure(id raft.ServerID) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.failing[id]
	return t, ok
}
