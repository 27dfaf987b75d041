package nodelog

import "sync"

// Lines returns the newest tail lines (every kept line if tail < 0, none if
// 0) and, with follow, every later line until cancel is called. Taking the
// tail and subscribing happen under one lock, so no line is lost or sent
// twice between them. Without follow the channel is closed after the tail.
// cancel releases a follow, closes the channel, and may be called more
// than once.
//
// A follower never slows logging: lines wait in a backlog bounded like the
// ring, and a follower that falls further behind loses the oldest ones; in
// their place it gets one warning line saying how many it lost.
func (l *Log) Lines(tail int, follow bool) (lines <-chan string, cancel func()) {
	l.mu.Lock()
	backlog := l.ring.last(tail)
	if !follow {
		l.mu.Unlock()
		out := make(chan string, len(backlog))
		for _, line := range backlog {
			out <- line
		}
		close(out)
		return out, func() {}
	}
	f := &follower{queue: newRing(l.maxLines, l.maxBytes), wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.followers[f] = struct{}{}
	l.mu.Unlock()

	out := make(chan string)
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		l.deliver(f, backlog, out)
	}()
	return out, func() {
		l.mu.Lock()
		delete(l.followers, f)
		l.mu.Unlock()
		f.stop()
		<-delivered
	}
}

// deliver sends the tail, then the follower's backlog as it fills, to out,
// until the follower is stopped.
func (l *Log) deliver(f *follower, tail []string, out chan<- string) {
	defer close(out)
	send := func(lines []string) bool {
		for _, line := range lines {
			select {
			case out <- line:
			case <-f.done:
				return false
			}
		}
		return true
	}
	if !send(tail) {
		return
	}
	for {
		select {
		case <-f.wake:
		case <-f.done:
			return
		}
		l.mu.Lock()
		batch, dropped := f.queue.take(), f.dropped
		f.dropped = 0
		l.mu.Unlock()
		if dropped > 0 && !send([]string{l.droppedLine(dropped)}) {
			return
		}
		if !send(batch) {
			return
		}
	}
}

// follower is one subscriber's backlog; Log.mu guards queue and dropped.
type follower struct {
	queue   ring
	dropped int
	wake    chan struct{}
	done    chan struct{}
	once    sync.Once
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
