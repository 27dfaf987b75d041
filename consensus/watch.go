package consensus

import (
	"context"
)

// Watch streams changes from the local replica.
type Watch struct {
	events chan Event
	err    error // set before events is closed
}

// Events delivers every change of the watched type in revision order. It is
// closed when the context ends, the store stops, or the watcher falls behind
// the retained history; Err then says which.
func (w *Watch) Events() <-chan Event { return w.events }

// Err returns why Events was closed: the context's error, ErrStopped, or a
// *CompactedError when the watcher fell more than Config.HistoryLimit
// revisions behind. Call it only after Events is closed.
func (w *Watch) Err() error { return w.err }

// Watch streams every change to resources of typ ("" for all types) with
// revision ≥ fromRevision, in revision order, then follows new changes.
// fromRevision 0 means "changes after now". A revision older than the
// retained history fails at once with a *CompactedError naming the oldest
// available revision.
//
// Watch reads the local replica: on a follower, events arrive once applied
// there. To watch from a linearizable point, read (Get/List) on the leader
// and watch from the returned revision + 1.
func (s *Store) Watch(ctx context.Context, typ string, fromRevision uint64) (*Watch, error) {
	if err := s.alive(); err != nil {
		return nil, err
	}
	if fromRevision == 0 {
		fromRevision = s.Revision() + 1
	}
	events, next, changed, err := s.fsm.eventsFrom(typ, fromRevision)
	if err != nil {
		return nil, err
	}
	w := &Watch{events: make(chan Event, 64)}
	go s.runWatch(ctx, w, typ, events, next, changed)
	return w, nil
}

func (s *Store) runWatch(ctx context.Context, w *Watch, typ string, pending []Event, next uint64, changed <-chan struct{}) {
	defer close(w.events)
	for {
		for _, ev := range pending {
			select {
			case w.events <- ev:
			case <-ctx.Done():
				w.err = ctx.Err()
				return
			case <-s.stopCh:
				w.err = s.alive()
				return
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			w.err = ctx.Err()
			return
		case <-s.stopCh:
			w.err = s.alive()
			return
		}
		var err error
		pending, next, changed, err = s.fsm.eventsFrom(typ, next)
		if err != nil {
			w.err = err
			return
		}
	}
}
