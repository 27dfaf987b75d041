package hclogslog

import (
	"fmt"
	"sync"
	"time"
)

// RepeatInterval is how often one warning or error is written for one peer.
const RepeatInterval = 10 * time.Second

// limiter lets one line per (message, peer) through per interval and
// counts the rest.
type limiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[limitKey]*limitEntry
}

type limitKey struct{ msg, peer string }

type limitEntry struct {
	last       time.Time
	suppressed int
}

func newLimiter(every time.Duration) *limiter {
	return &limiter{every: every, now: time.Now, seen: map[limitKey]*limitEntry{}}
}

// allow reports whether a line may be written, and how many were
// suppressed since the last one that was.
func (l *limiter) allow(msg, peer string) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	k := limitKey{msg, peer}
	e, found := l.seen[k]
	if found && now.Sub(e.last) < l.every {
		e.suppressed++
		return 0, false
	}
	if !found {
		if len(l.seen) > 1024 {
			l.seen = map[limitKey]*limitEntry{} // bounded: peers come and go
		}
		e = &limitEntry{}
		l.seen[k] = e
	}
	suppressed, e.suppressed, e.last = e.suppressed, 0, now
	return suppressed, true
}

// peerOf finds the peer a raft line is about: its "peer" (or "id", "addr")
// attribute.
func peerOf(args []any) string {
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "peer", "id", "addr", "address", "target":
			return fmt.Sprint(args[i+1])
		}
	}
	return ""
}
