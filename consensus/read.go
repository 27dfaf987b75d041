package consensus

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"
)

type readIndexResult struct {
	index uint64
	err   error
}

// Get returns one resource and the revision the replica was at when read.
func (s *Store) Get(ctx context.Context, typ, id string, mode ReadMode) (Resource, uint64, error) {
	if err := s.readBarrier(ctx, mode); err != nil {
		return Resource{}, 0, err
	}
	r, rev := s.fsm.get(typ, id)
	if r == nil {
		return Resource{}, rev, fmt.Errorf("%s/%s: %w", typ, id, ErrNotFound)
	}
	return *r, rev, nil
}

// List returns every resource of a type, sorted by ID, and the revision the
// replica was at when read.
func (s *Store) List(ctx context.Context, typ string, mode ReadMode) ([]Resource, uint64, error) {
	if err := s.readBarrier(ctx, mode); err != nil {
		return nil, 0, err
	}
	out, rev := s.fsm.list(typ)
	return out, rev, nil
}

// Revision returns the local replica's revision (a stale read).
func (s *Store) Revision() uint64 {
	_, rev, _ := s.fsm.progress()
	return rev
}

// readBarrier makes a linearizable read safe: it returns once the local
// state includes every write committed before the call (the ReadIndex
// protocol, Raft thesis §6.4). Stale reads skip it.
func (s *Store) readBarrier(ctx context.Context, mode ReadMode) error {
	if err := s.alive(); err != nil {
		return err
	}
	if mode == Stale {
		return nil
	}
	idx, err := s.readIndex(ctx)
	if err != nil {
		return err
	}
	return s.waitApplied(ctx, idx)
}

// readIndex asks the batcher for a confirmed read index.
func (s *Store) readIndex(ctx context.Context) (uint64, error) {
	if s.leader.readyTerm.Load() == 0 {
		return 0, s.notLeader()
	}
	ch := make(chan readIndexResult, 1)
	select {
	case s.readCh <- ch:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.stopCh:
		return 0, s.alive()
	}
	select {
	case r := <-ch:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.stopCh:
		return 0, s.alive()
	}
}

// runReadIndex confirms leadership for batches of reads: every read queued
// while one confirmation round is in flight shares the next round, so read
// throughput is not bounded by the heartbeat round trip.
func (s *Store) runReadIndex() {
	defer s.wg.Done()
	batch := make([]chan readIndexResult, 0, 1024)
	for {
		select {
		case <-s.stopCh:
			return
		case ch := <-s.readCh:
			batch = append(batch[:0], ch)
		}
	drain:
		for len(batch) < cap(batch) {
			select {
			case ch := <-s.readCh:
				batch = append(batch, ch)
			default:
				break drain
			}
		}
		idx, err := s.confirmLeadership()
		for _, ch := range batch {
			ch <- readIndexResult{index: idx, err: err}
		}
	}
}

// confirmLeadership returns the commit index as a read index, after proving
// this node was leader for the whole time. The order matters:
//  1. The term must be the one whose barrier this node applied
//     (leader.readyTerm): only then does its commit index cover every entry
//     committed by earlier leaders (Raft §5.4.2, §8).
//  2. The commit index is taken before the quorum check, so anything
//     acknowledged before this read began is at or below it.
//  3. VerifyLeader contacts a quorum: no newer leader can have committed
//     anything this node does not know of.
//  4. The term is checked again: a lost-and-regained leadership in between
//     would have a commit index from the wrong term.
func (s *Store) confirmLeadership() (uint64, error) {
	term := s.leader.readyTerm.Load()
	if term == 0 || s.raft.CurrentTerm() != term {
		return 0, s.notLeader()
	}
	idx := s.raft.CommitIndex()
	if err := s.awaitVerify(); err != nil {
		return 0, err
	}
	if s.raft.CurrentTerm() != term {
		return 0, s.notLeader()
	}
	return idx, nil
}

// waitApplied returns once the FSM holds every command at or below idx.
// Entries that never reach the FSM (no-ops, barriers, configuration changes)
// are skipped by looking up the last command at or below idx in the log.
func (s *Store) waitApplied(ctx context.Context, idx uint64) error {
	applied, _, changed := s.fsm.progress()
	if applied >= idx {
		return nil
	}
	target, err := s.lastCommandIn(applied, idx)
	if err != nil {
		return err
	}
	for applied < target {
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stopCh:
			return s.alive()
		}
		applied, _, changed = s.fsm.progress()
	}
	return nil
}

// lastCommandIn returns the highest command index in (after, upTo], or after
// when there is none.
func (s *Store) lastCommandIn(after, upTo uint64) (uint64, error) {
	var l raft.Log
	for i := upTo; i > after; i-- {
		if err := s.logs.GetLog(i, &l); err != nil {
			return 0, fmt.Errorf("read log index %d: %w", i, err)
		}
		if l.Type == raft.LogCommand {
			return i, nil
		}
	}
	return after, nil
}

// awaitVerify runs VerifyLeader and waits for it or for the store to stop.
// raft queues verify requests in a buffered channel and never answers one
// still queued when it shuts down, so waiting on the future alone could
// block Close forever; the waiter goroutine is then abandoned (it holds no
// resources besides its stack).
func (s *Store) awaitVerify() error {
	f := s.raft.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return s.mapRaftErr(err)
	case <-s.stopCh:
		return s.alive()
	}
}
