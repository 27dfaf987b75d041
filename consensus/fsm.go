package consensus

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// resKey addresses one resource.
type resKey struct{ typ, id string }

// outcome is how a command ended; it is recorded for de-duplication.
type outcome uint8

const (
	outcomeOK outcome = iota
	outcomeNotFound
	outcomeConflict
	outcomeReused // never stored: the answer to a reused request ID
)

// dedupEntry is the recorded outcome of one applied request ID.
type dedupEntry struct {
	RequestID      string  `json:"rid"`
	Fingerprint    uint64  `json:"fp"`
	Outcome        outcome `json:"o"`
	Revision       uint64  `json:"rev,omitempty"`
	Version        uint64  `json:"v,omitempty"`
	CreateRevision uint64  `json:"cr,omitempty"`
	UpdateRevision uint64  `json:"ur,omitempty"`
	Exists         bool    `json:"ex,omitempty"`
}

// applyResult is what FSM.Apply returns through raft's ApplyFuture.
type applyResult struct {
	res WriteResult
	err error
}

// fsm is the replicated state machine. It is deterministic: its state after
// applying a log prefix depends only on that prefix (no clock, no randomness,
// no I/O), so every replica and every restart computes the same state.
type fsm struct {
	historyLimit int
	dedupWindow  int
	// restores counts snapshot restores (at start or installed by a
	// leader); an observable for status and tests, not part of the state.
	restores atomic.Uint64

	mu        sync.RWMutex
	revision  uint64                          // cluster revision of the last successful write
	applied   uint64                          // raft index of the last command applied
	resources map[string]map[string]*Resource // type → id → resource
	history   []Event                         // the last historyLimit events, in revision order
	dedup     map[string]*dedupEntry
	dedupFIFO []string // request IDs in apply order; the oldest is evicted first
	changed   chan struct{}
	fatal     error // set once; the FSM then refuses every further command

	// onFatal, when set, is told the fatal error once (Store.fail); it
	// must not block. faults are the store's fault points (nil: none).
	onFatal func(error)
	faults  *faults
}

func newFSM(historyLimit, dedupWindow int) *fsm {
	return &fsm{
		historyLimit: historyLimit,
		dedupWindow:  dedupWindow,
		resources:    map[string]map[string]*Resource{},
		dedup:        map[string]*dedupEntry{},
		changed:      make(chan struct{}),
	}
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fatal != nil {
		return &applyResult{err: fmt.Errorf("%w: %v", ErrStopped, f.fatal)}
	}
	cmd, err := decodeCommand(l.Data)
	if err == nil && f.faults != nil && f.faults.apply.fire() {
		err = faultErr(FaultApply)
	}
	if err != nil {
		// Skipping an entry we cannot apply would make this replica diverge:
		// stop applying instead (etcd's rule: a failed apply stops the node).
		// The entry is committed, so it applies on the other replicas: the
		// writer cannot tell, and retries with its request ID.
		f.setFatalLocked(fmt.Errorf("log index %d: %w", l.Index, err))
		return &applyResult{err: fmt.Errorf("%w: %w: %w", ErrStopped, ErrOutcomeUnknown, f.fatal)}
	}
	res := f.applyCommand(cmd)
	f.applied = l.Index
	f.notifyLocked()
	return res
}

// setFatalLocked records the FSM's fatal error once and reports it to the
// store. Callers hold f.mu.
func (f *fsm) setFatalLocked(err error) {
	if f.fatal != nil {
		return
	}
	f.fatal = err
	if f.onFatal != nil {
		f.onFatal(err)
	}
}

// notifyLocked wakes every watcher and read waiter. Callers hold f.mu.
func (f *fsm) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fsm) applyCommand(cmd *command) *applyResult {
	fp := cmd.fingerprint()
	if e, ok := f.dedup[cmd.RequestID]; ok {
		if e.Fingerprint != fp {
			return &applyResult{err: fmt.Errorf("%w: %q", ErrRequestIDReused, cmd.RequestID)}
		}
		return e.result(cmd)
	}
	e := f.execute(cmd)
	e.RequestID, e.Fingerprint = cmd.RequestID, fp
	f.remember(e)
	r := e.result(cmd)
	r.res.Duplicate = false
	return r
}

// execute runs one command against the state and returns its outcome.
func (f *fsm) execute(cmd *command) *dedupEntry {
	cur := f.resources[cmd.Type][cmd.ID]
	switch {
	case cmd.Op == opCreate && cur != nil:
		return &dedupEntry{Outcome: outcomeConflict, Exists: true, Version: cur.Version}
	case (cmd.Op == opUpdate || cmd.Op == opDelete) && cur == nil:
		if cmd.Expected == 0 {
			return &dedupEntry{Outcome: outcomeNotFound}
		}
		return &dedupEntry{Outcome: outcomeConflict}
	case cmd.Op == opUpdate && cur.Version != cmd.Expected,
		cmd.Op == opDelete && cmd.Expected != 0 && cur.Version != cmd.Expected:
		return &dedupEntry{Outcome: outcomeConflict, Exists: true, Version: cur.Version}
	}

	f.revision++
	rev := f.revision
	ev := Event{Revision: rev}
	if cmd.Op == opDelete {
		gone := *cur
		gone.UpdateRevision = rev
		delete(f.resources[cmd.Type], cmd.ID)
		if len(f.resources[cmd.Type]) == 0 {
			delete(f.resources, cmd.Type)
		}
		ev.Kind, ev.Resource = EventDeleted, gone
	} else {
		next := &Resource{Type: cmd.Type, ID: cmd.ID, Spec: cmd.Spec, Version: 1, CreateRevision: rev, UpdateRevision: rev}
		ev.Kind = EventCreated
		if cur != nil {
			next.Version, next.CreateRevision = cur.Version+1, cur.CreateRevision
			ev.Kind = EventUpdated
		}
		byID := f.resources[cmd.Type]
		if byID == nil {
			byID = map[string]*Resource{}
			f.resources[cmd.Type] = byID
		}
		byID[cmd.ID] = next
		ev.Resource = *next
	}
	f.appendHistory(ev)
	return &dedupEntry{
		Outcome: outcomeOK, Revision: rev, Exists: cmd.Op != opDelete,
		Version: ev.Resource.Version, CreateRevision: ev.Resource.CreateRevision, UpdateRevision: rev,
	}
}

// result turns a recorded outcome into the caller's answer. On a duplicate,
// the resource is rebuilt from the outcome and the retried request.
func (e *dedupEntry) result(cmd *command) *applyResult {
	switch e.Outcome {
	case outcomeNotFound:
		return &applyResult{err: fmt.Errorf("%s/%s: %w", cmd.Type, cmd.ID, ErrNotFound)}
	case outcomeConflict:
		return &applyResult{err: &ConflictError{
			Type: cmd.Type, ID: cmd.ID, Exists: e.Exists,
			CurrentVersion: e.Version, ExpectedVersion: cmd.Expected,
		}}
	}
	return &applyResult{res: WriteResult{
		Revision:  e.Revision,
		Duplicate: true,
		Resource: Resource{
			Type: cmd.Type, ID: cmd.ID, Spec: cmd.Spec, Version: e.Version,
			CreateRevision: e.CreateRevision, UpdateRevision: e.UpdateRevision,
		},
	}}
}

// remember records an outcome, evicting the oldest beyond the window. The
// window is counted in commands, not time, so eviction is deterministic.
func (f *fsm) remember(e *dedupEntry) {
	f.dedup[e.RequestID] = e
	f.dedupFIFO = append(f.dedupFIFO, e.RequestID)
	if over := len(f.dedupFIFO) - f.dedupWindow; over > 0 {
		for _, id := range f.dedupFIFO[:over] {
			delete(f.dedup, id)
		}
		f.dedupFIFO = compact(f.dedupFIFO, over)
	}
}

func (f *fsm) appendHistory(ev Event) {
	f.history = append(f.history, ev)
	if over := len(f.history) - f.historyLimit; over > 0 {
		f.history = compact(f.history, over)
	}
}

// compact drops the first n elements. It copies only when the dropped prefix
// is as long as what is kept, so appends stay amortized O(1) without keeping
// the backing array alive forever.
func compact[T any](s []T, n int) []T {
	if n < len(s)-n {
		return s[n:]
	}
	out := make([]T, len(s)-n, cap(s))
	copy(out, s[n:])
	return out
}

// get returns a resource and the revision the state is at.
func (f *fsm) get(typ, id string) (*Resource, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.resources[typ][id], f.revision
}

// list returns the resources of a type sorted by ID, and the state's revision.
func (f *fsm) list(typ string) ([]Resource, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	byID := f.resources[typ]
	out := make([]Resource, 0, len(byID))
	for _, r := range byID {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, f.revision
}

// progress returns the applied index, the revision and a channel closed at
// the next change.
func (f *fsm) progress() (applied, revision uint64, changed <-chan struct{}) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied, f.revision, f.changed
}

// eventsFrom returns the retained events of typ (all types if empty) with
// revision ≥ from, the next revision to ask for, and a channel closed at the
// next change. It fails with a *CompactedError if from is no longer retained.
func (f *fsm) eventsFrom(typ string, from uint64) ([]Event, uint64, <-chan struct{}, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	oldest := f.revision + 1
	if len(f.history) > 0 {
		oldest = f.history[0].Revision
	}
	if from < oldest && from <= f.revision {
		return nil, 0, nil, &CompactedError{Requested: from, Oldest: oldest}
	}
	var out []Event
	i := sort.Search(len(f.history), func(i int) bool { return f.history[i].Revision >= from })
	for ; i < len(f.history); i++ {
		if typ == "" || f.history[i].Resource.Type == typ {
			out = append(out, f.history[i])
		}
	}
	next := max(from, f.revision+1)
	return out, next, f.changed, nil
}

// Snapshot implements raft.FSM. Resources are immutable, so copying the
// pointers is enough to freeze a point-in-time view; encoding happens in
// Persist, off the apply path.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s := &snapshotData{
		Format:   snapshotFormat,
		Index:    f.applied,
		Revision: f.revision,
		History:  append([]Event(nil), f.history...),
		Dedup:    make([]dedupEntry, 0, len(f.dedupFIFO)),
	}
	for _, byID := range f.resources {
		for _, r := range byID {
			s.Resources = append(s.Resources, *r)
		}
	}
	for _, id := range f.dedupFIFO {
		s.Dedup = append(s.Dedup, *f.dedup[id])
	}
	return s, nil
}

// Restore implements raft.FSM: it replaces the whole state with a snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := readSnapshot(rc)
	if err == nil && f.faults != nil && f.faults.restore.fire() {
		err = fmt.Errorf("%w: %w", ErrCorrupt, faultErr(FaultRestore))
	}
	if err != nil {
		// A snapshot that cannot be restored is fatal: raft would fall back
		// to an older one at start (Open verifies first), and a follower
		// refusing the leader's would only be sent it again, forever. The
		// state is left as it was, and the store stops.
		err = fmt.Errorf("restore snapshot: %w", err)
		f.mu.Lock()
		f.setFatalLocked(err)
		f.mu.Unlock()
		return err
	}
	resources := map[string]map[string]*Resource{}
	for i := range s.Resources {
		r := &s.Resources[i]
		if resources[r.Type] == nil {
			resources[r.Type] = map[string]*Resource{}
		}
		resources[r.Type][r.ID] = r
	}
	dedup := make(map[string]*dedupEntry, len(s.Dedup))
	fifo := make([]string, 0, len(s.Dedup))
	for i := range s.Dedup {
		dedup[s.Dedup[i].RequestID] = &s.Dedup[i]
		fifo = append(fifo, s.Dedup[i].RequestID)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.resources, f.dedup, f.dedupFIFO, f.history = resources, dedup, fifo, s.History
	f.revision, f.applied = s.Revision, s.Index
	f.restores.Add(1)
	f.notifyLocked()
	return nil
}

// recallUpdate looks up a successful update by request ID (see
// Store.RecallUpdate). A successful update took the resource from version
// Version-1 to Version, which rebuilds the command's fingerprint.
func (f *fsm) recallUpdate(requestID, typ, id string, spec []byte) (WriteResult, bool, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	e, ok := f.dedup[requestID]
	if !ok || e.Outcome != outcomeOK || e.Version == 0 {
		return WriteResult{}, false, nil
	}
	cmd := &command{Op: opUpdate, Type: typ, ID: id, Spec: spec, Expected: e.Version - 1}
	if e.Fingerprint != cmd.fingerprint() {
		return WriteResult{}, false, fmt.Errorf("%w: %q", ErrRequestIDReused, requestID)
	}
	return e.result(cmd).res, true, nil
}
