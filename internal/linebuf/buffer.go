package linebuf

import (
	"fmt"
	"sync"
)

// Options configures a Buffer.
type Options struct {
	// MaxLines bounds the lines kept, and each follower's queue; a Buffer
	// with MaxLines <= 0 keeps none.
	MaxLines int
	// MaxBytes, if positive, also bounds the bytes of line text kept, and
	// each follower's queue; a longer line is cut to MaxBytes.
	MaxBytes int
	// Dropped formats the line a follower gets in place of n lines it was
	// too slow to take. It is called without the Buffer's lock held, on
	// the follower's delivering goroutine. Nil means "N lines dropped for
	// a slow reader".
	Dropped func(n int) string
}

// Buffer is a bounded log of the newest lines with followers. It is safe
// for concurrent use.
type Buffer struct {
	opts      Options
	mu        sync.Mutex
	ring      ring
	followers map[*follower]struct{}
	closed    bool
}

// New returns an empty Buffer.
func New(o Options) *Buffer {
	if o.Dropped == nil {
		o.Dropped = func(n int) string { return fmt.Sprintf("%d lines dropped for a slow reader", n) }
	}
	return &Buffer{opts: o, ring: newRing(o.MaxLines, o.MaxBytes), followers: map[*follower]struct{}{}}
}

// Add appends lines, in order and as one step: a follower sees all of them
// or, past its queue's bound, loses the oldest. It holds the lock only to
// append and never waits for a follower.
func (b *Buffer) Add(lines ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, line := range lines {
		b.ring.add(line)
		for f := range b.followers {
			f.push(line)
		}
	}
}

// Lines returns the newest tail lines (every kept line if tail < 0, none if
// 0) and, with follow, every later line until cancel or Close. Taking the
// tail and subscribing happen under one lock, so no line is lost or sent
// twice between them. Without follow, or after Close, the channel is closed
// after the tail. cancel releases a follow, returns once the channel is
// closed, and may be called more than once.
func (b *Buffer) Lines(tail int, follow bool) (lines <-chan string, cancel func()) {
	b.mu.Lock()
	backlog := b.ring.last(tail)
	if !follow || b.closed {
		b.mu.Unlock()
		out := make(chan string, len(backlog))
		for _, line := range backlog {
			out <- line
		}
		close(out)
		return out, func() {}
	}
	f := newFollower(b.opts.MaxLines, b.opts.MaxBytes)
	b.followers[f] = struct{}{}
	b.mu.Unlock()

	out := make(chan string)
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		b.deliver(f, backlog, out)
	}()
	return out, func() {
		b.mu.Lock()
		delete(b.followers, f)
		b.mu.Unlock()
		f.stop()
		<-delivered
	}
}

// Close ends every follow, and makes later Lines calls return the tail
// only. Lines added after Close are still kept.
func (b *Buffer) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for f := range b.followers {
		delete(b.followers, f)
		f.stop()
	}
}
