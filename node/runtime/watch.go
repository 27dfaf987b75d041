package runtime

import (
	"context"
	"sync"
)

// watcher is one Watch: a filter and an unbounded queue that emitLocked
// appends to and pump drains into the caller's channel.
type watcher struct {
	typ, id string
	wake    chan struct{} // capacity 1: "queue may be non-empty"

	mu    sync.Mutex
	queue []Event
}

func (w *watcher) matches(r Resource) bool {
	return r.Type == w.typ && (w.id == "" || r.ID == w.id)
}

func (w *watcher) push(ev Event) {
	w.mu.Lock()
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pump delivers queued events to out in order until ctx ends, then calls
// stop (unregistering the watcher) and closes out.
func (w *watcher) pump(ctx context.Context, out chan<- Event, stop func()) {
	defer close(out)
	defer stop()
	for {
		w.mu.Lock()
		batch := w.queue
		w.queue = nil
		w.mu.Unlock()
		for _, ev := range batch {
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return
		}
	}
}

// trigger is a runtime subscription: it wakes a controller when one of its
// inputs changes.
type trigger struct {
	inputs []Input
	ch     chan<- struct{}
}

func (t *trigger) matches(r Resource) bool {
	for _, in := range t.inputs {
		if in.matches(r.Type, r.ID) {
			return true
		}
	}
	return false
}
