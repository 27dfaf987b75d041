package gossip

import (
	"net/netip"
	"sync"
	"time"
)

// Conflict describes two live nodes claiming one name.
type Conflict struct {
	// Name is the contested name.
	Name string
	// Existing is the address this node already knew the name at; that
	// node keeps the name.
	Existing netip.AddrPort
	// Other is the address of the refused claimant.
	Other netip.AddrPort
	// Local is true when the contested name is this node's own.
	Local bool
	// At is when this node saw the conflict.
	At time.Time
}

// Status counts what this node refused, so a peer that cannot join is
// visible on both sides rather than silently ignored. Counters only grow.
type Status struct {
	// Joined is true once a Join succeeded or a peer joined this node.
	Joined bool
	// JoinAttempts counts join attempts, successful or not.
	JoinAttempts uint64
	// LastJoinError is the error of the last failed join attempt.
	LastJoinError string
	// NameConflicts counts claims to a name already held by a live member
	// at another address. Memberlist refuses them all.
	NameConflicts uint64
	// LastConflict is the most recent name conflict, or nil.
	LastConflict *Conflict
	// LabelMismatches counts packets and streams refused because they were
	// labelled for another cluster ID (or not labelled at all).
	LabelMismatches uint64
	// DecryptFailures counts packets and streams that no installed key
	// could decrypt: a peer with the wrong key, or mid-rotation.
	DecryptFailures uint64
	// InvalidMeta counts alive messages refused because their metadata did
	// not decode.
	InvalidMeta uint64
	// HealthScore is memberlist's awareness score: 0 is healthy, higher
	// means this node is too slow to meet its own probe deadlines and has
	// stretched them.
	HealthScore int
}

// statusTracker accumulates Status under a mutex; delegates and the log
// bridge write to it from memberlist's goroutines.
type statusTracker struct {
	mu sync.Mutex
	s  Status
	// localConflicts counts conflicts over this node's own name; Join
	// compares it before and after an attempt.
	localConflicts uint64
}

func (t *statusTracker) update(f func(*Status)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(&t.s)
}

func (t *statusTracker) conflict(c Conflict) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.NameConflicts++
	t.s.LastConflict = &c
	if c.Local {
		t.localConflicts++
	}
}

func (t *statusTracker) localConflictCount() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.localConflicts
}

func (t *statusTracker) snapshot() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.s
	if s.LastConflict != nil {
		c := *s.LastConflict
		s.LastConflict = &c
	}
	return s
}
