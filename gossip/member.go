package gossip

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// State is a member's gossip state as this node last saw it.
type State uint8

// Member states. Memberlist itself forgets dead and left members; this
// package keeps them for Config.DeadRetention so their time of death stays
// visible.
const (
	// StateAlive means the member answers probes or was recently vouched for.
	StateAlive State = iota
	// StateSuspect means this node's own probe of the member failed and
	// memberlist is waiting for it to refute. Only the prober learns of it
	// (memberlist reports suspicion in a log line, not an event), and it is
	// cleared by the next successful probe or by the member's death.
	StateSuspect
	// StateDead means the cluster declared the member failed.
	StateDead
	// StateLeft means the member announced that it was leaving.
	StateLeft
)

// String returns the lowercase state name used in logs and the API.
func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	default:
		return "unknown"
	}
}

// Member is one node in this node's view of the cluster, a copy safe to
// keep.
type Member struct {
	// Name is the member's unique gossip name.
	Name string
	// Addr is the member's gossip address.
	Addr netip.AddrPort
	// State is the member's state in this node's view.
	State State
	// Since is when the member entered State, by this node's clock.
	Since time.Time
	// Meta is the member's last advertised metadata, with Name set.
	Meta Meta
}

// DownFor returns how long, as of now, the member has been dead or left,
// or zero while it is alive or suspect. A Raft leader compares it with its
// grace period before removing a voter.
func (m Member) DownFor(now time.Time) time.Duration {
	if m.State != StateDead && m.State != StateLeft {
		return 0
	}
	return now.Sub(m.Since)
}

// entry is a table row: the member, whether it announced a leave, and
// until when a suspicion this node raised stands.
type entry struct {
	Member
	leaving      bool
	suspectUntil time.Time
}

// table is this node's membership view. Memberlist's delegates feed it
// (under memberlist's own node lock, so its methods never block or call
// back into memberlist); Members reads it.
type table struct {
	mu        sync.Mutex
	now       func() time.Time
	retention time.Duration
	// suspicion returns the longest memberlist may keep a member of an
	// n-member cluster suspect before declaring it dead.
	suspicion func(n int) time.Duration
	rows      map[string]*entry
}

func newTable(retention time.Duration, suspicion func(int) time.Duration, now func() time.Time) *table {
	return &table{now: now, retention: retention, suspicion: suspicion, rows: make(map[string]*entry)}
}

// setState moves a row to st, restarting Since only when the state changes.
func (e *entry) setState(st State, now time.Time) bool {
	if e.State == st {
		return false
	}
	e.State, e.Since = st, now
	return true
}

// alive records a join or update of name at addr with meta.
func (t *table) alive(name string, addr netip.AddrPort, meta Meta) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	e, ok := t.rows[name]
	if !ok {
		e = &entry{Member: Member{Name: name, Since: now}}
		t.rows[name] = e
	}
	if e.State == StateDead || e.State == StateLeft {
		// Back from the dead: a new life, whose leave is not announced yet.
		e.leaving = false
	}
	e.setState(StateAlive, now)
	e.Addr = addr
	meta.Name = name
	e.Meta = meta
}

// down records that memberlist reported name dead or left; whether it left
// depends on a leave intent seen earlier.
func (t *table) down(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.rows[name]
	if !ok {
		return
	}
	st := StateDead
	if e.leaving {
		st = StateLeft
	}
	e.setState(st, t.now())
}

// suspect marks an alive member suspect and reports whether it changed.
// Memberlist resolves every suspicion within its maximum suspicion
// timeout: by a death, which NotifyLeave reports, or by a refutation,
// which reports nothing when the metadata is unchanged. So a suspicion
// still standing after that timeout was refuted, and expires.
func (t *table) suspect(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.rows[name]
	if !ok || e.State != StateAlive {
		return false
	}
	now := t.now()
	e.suspectUntil = now.Add(t.suspicion(t.countAliveLocked()))
	return e.setState(StateSuspect, now)
}

// acked clears suspicion after a successful probe and reports whether it
// changed anything.
func (t *table) acked(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.rows[name]
	if !ok || e.State != StateSuspect {
		return false
	}
	return e.setState(StateAlive, t.now())
}

// leaveIntent records that name announced its leave. It reports whether
// this was news, so the announcement is relayed only once per node.
func (t *table) leaveIntent(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.rows[name]
	if !ok || e.leaving || e.State == StateLeft {
		return false
	}
	e.leaving = true
	if e.State == StateDead {
		// The dead message overtook the intent: it left after all.
		e.setState(StateLeft, t.now())
	}
	return true
}

// snapshot returns every retained member, sorted by name.
func (t *table) snapshot() []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refreshLocked(t.now())
	out := make([]Member, 0, len(t.rows))
	for _, e := range t.rows {
		out = append(out, e.Member)
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// get returns one member.
func (t *table) get(name string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refreshLocked(t.now())
	e, ok := t.rows[name]
	if !ok {
		return Member{}, false
	}
	return e.Member, true
}

// countAlive returns how many members are alive or suspect, which is the
// cluster size memberlist scales its retransmissions by.
func (t *table) countAlive() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.countAliveLocked()
}

func (t *table) countAliveLocked() int {
	n := 0
	for _, e := range t.rows {
		if e.State == StateAlive || e.State == StateSuspect {
			n++
		}
	}
	return n
}

// clearRefuted marks suspects alive when memberlist holds them alive.
func (t *table) clearRefuted(alive map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for name, e := range t.rows {
		if e.State == StateSuspect && alive[name] {
			e.setState(StateAlive, now)
		}
	}
}

// refreshLocked drops members dead or left for longer than the retention
// and expires refuted suspicions. It runs on reads, so the table needs no
// goroutine of its own.
func (t *table) refreshLocked(now time.Time) {
	for name, e := range t.rows {
		switch {
		case e.Member.DownFor(now) > t.retention:
			delete(t.rows, name)
		case e.State == StateSuspect && now.After(e.suspectUntil):
			e.setState(StateAlive, now)
		}
	}
}
