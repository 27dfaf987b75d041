package runtime

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// State is the node's in-memory store of local resources: controller inputs
// and outputs. It is safe for concurrent use. Every change is applied and
// announced under one lock, so all watches see changes in the same order.
type State struct {
	mu       sync.Mutex
	rev      uint64
	objs     map[string]map[string]Resource // type -> id -> resource
	watchers map[*watcher]struct{}
	triggers map[*trigger]struct{}
}

// NewState returns an empty State.
func NewState() *State {
	return &State{
		objs:     map[string]map[string]Resource{},
		watchers: map[*watcher]struct{}{},
		triggers: map[*trigger]struct{}{},
	}
}

// Get returns the resource of that type and ID, or ErrNotFound.
func (s *State) Get(typ, id string) (Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.objs[typ][id]
	if !ok {
		return Resource{}, fmt.Errorf("get %s/%s: %w", typ, id, ErrNotFound)
	}
	return r.clone(), nil
}

// List returns every resource of a type, ordered by ID.
func (s *State) List(typ string) []Resource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listLocked(typ, "")
}

// listLocked returns the resources of typ (only id, if set), ordered by ID.
func (s *State) listLocked(typ, id string) []Resource {
	out := make([]Resource, 0, len(s.objs[typ]))
	for _, r := range s.objs[typ] {
		if id == "" || r.ID == id {
			out = append(out, r.clone())
		}
	}
	slices.SortFunc(out, func(a, b Resource) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Put creates or updates a resource and returns it as stored. r.Version is
// ignored; r.Owner must match the owner of an existing resource
// (ErrOwnerConflict otherwise). A write that leaves spec and labels as they
// are is a no-op: the stored resource keeps its version and no event is sent,
// which is what stops controllers that rewrite their outputs on every pass
// from waking their consumers in a loop.
func (s *State) Put(r Resource) (Resource, error) {
	if r.Type == "" || r.ID == "" {
		return Resource{}, fmt.Errorf("put %q/%q: %w: type and id are required", r.Type, r.ID, ErrInvalidResource)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.objs[r.Type][r.ID]
	if exists {
		if old.Owner != r.Owner {
			return Resource{}, fmt.Errorf("put %s/%s as %q: %w %q", r.Type, r.ID, r.Owner, ErrOwnerConflict, old.Owner)
		}
		if sameContent(old, r) {
			return old.clone(), nil
		}
	}
	if _, err := json.Marshal(r.Spec); err != nil {
		return Resource{}, fmt.Errorf("put %s/%s: %w: spec: %w", r.Type, r.ID, ErrInvalidResource, err)
	}
	s.rev++
	r = r.clone()
	r.Version = s.rev
	if s.objs[r.Type] == nil {
		s.objs[r.Type] = map[string]Resource{}
	}
	s.objs[r.Type][r.ID] = r
	ev := EventUpdated
	if !exists {
		ev = EventCreated
	}
	s.emitLocked(Event{Type: ev, Resource: r})
	return r.clone(), nil
}

// Delete removes a resource owned by owner. It returns ErrNotFound if there
// is none and ErrOwnerConflict if someone else owns it. Watchers receive the
// resource's last state, version unchanged.
func (s *State) Delete(typ, id, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.objs[typ][id]
	if !ok {
		return fmt.Errorf("delete %s/%s: %w", typ, id, ErrNotFound)
	}
	if old.Owner != owner {
		return fmt.Errorf("delete %s/%s as %q: %w %q", typ, id, owner, ErrOwnerConflict, old.Owner)
	}
	delete(s.objs[typ], id)
	if len(s.objs[typ]) == 0 {
		delete(s.objs, typ)
	}
	s.emitLocked(Event{Type: EventDeleted, Resource: old})
	return nil
}

// Watch streams the changes to resources of typ (only the one with that id,
// if id is set) until ctx ends, then closes the channel. It first sends
// EventCreated for each matching resource, ordered by ID, then one
// EventBootstrapped, then every later change in the order it was applied.
//
// A watch never blocks writers: events queue per watch, without bound, until
// the reader takes them. Node-local state is small and readers are local, so
// a bounded queue that drops or aborts watches would cost more than it saves.
func (s *State) Watch(ctx context.Context, typ, id string) <-chan Event {
	w := &watcher{typ: typ, id: id, wake: make(chan struct{}, 1)}
	s.mu.Lock()
	for _, r := range s.listLocked(typ, id) {
		w.queue = append(w.queue, Event{Type: EventCreated, Resource: r})
	}
	w.queue = append(w.queue, Event{Type: EventBootstrapped})
	s.watchers[w] = struct{}{}
	s.mu.Unlock()

	out := make(chan Event)
	go w.pump(ctx, out, func() {
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
	})
	return out
}

// subscribe arranges a non-blocking send on ch whenever a resource matching
// one of inputs changes; the runtime uses it to wake controllers. Sends
// coalesce in ch's buffer, so a burst of changes costs one pass. The
// returned func cancels the subscription.
func (s *State) subscribe(inputs []Input, ch chan<- struct{}) (cancel func()) {
	t := &trigger{inputs: inputs, ch: ch}
	s.mu.Lock()
	s.triggers[t] = struct{}{}
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.triggers, t)
		s.mu.Unlock()
	}
}

// emitLocked announces ev to watchers and triggers; s.mu must be held, which
// is what keeps every watch's order the order of application.
func (s *State) emitLocked(ev Event) {
	for w := range s.watchers {
		if w.matches(ev.Resource) {
			w.push(ev)
		}
	}
	for t := range s.triggers {
		if t.matches(ev.Resource) {
			select {
			case t.ch <- struct{}{}:
			default:
			}
		}
	}
}

// ignoreNotFound returns nil for ErrNotFound: deleting what is already gone
// is success for a reconciler.
func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
