package linebuf

import "sync"

// follower is one follow's queue; Buffer.mu guards queue and dropped.
type follower struct {
	queue   ring
	dropped int
	wake    chan struct{}
	done    chan struct{}
	once    sync.Once
}

func newFollower(lines, maxBytes int) *follower {
	return &follower{queue: newRing(lines, maxBytes), wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues a line, dropping the oldest ones past the bounds, and wakes
// the deliverer without waiting for it.
func (f *follower) push(line string) {
	f.dropped += f.queue.add(line)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *follower) stop() { f.once.Do(func() { close(f.done) }) }

// deliver sends the tail, then the follower's queue as it fills, to out,
// until the follower is stopped. Lines lost since the last batch are
// reported, by Options.Dropped, before the batch.
func (b *Buffer) deliver(f *follower, tail []string, out chan<- string) {
	defer close(out)
	send := func(lines ...string) bool {
		for _, line := range lines {
			select {
			case out <- line:
			case <-f.done:
				return false
			}
		}
		return true
	}
	if !send(tail...) {
		return
	}
	for {
		select {
		case <-f.wake:
		case <-f.done:
			return
		}
		b.mu.Lock()
		batch, dropped := f.queue.take(), f.dropped
		f.dropped = 0
		b.mu.Unlock()
		if dropped > 0 && !send(b.opts.Dropped(dropped)) {
			return
		}
		if !send(batch...) {
			return
		}
	}
}
