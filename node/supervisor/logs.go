package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// maxLineBytes splits longer lines, so one runaway line cannot grow the
// reader's buffer without bound.
const maxLineBytes = 64 << 10

// pipeDrainTimeout bounds how long Run's shutdown waits for output pipes to
// reach end of file once every service is stopped. Only a process that left
// its service's process group (setsid) can keep one open that long.
const pipeDrainTimeout = 2 * time.Second

// logSink collects one service's output across all its processes: it
// splits it into lines and appends each to the rotated file, the ring
// buffer and every follower's queue.
type logSink struct {
	log      *slog.Logger
	file     *rotatingFile // nil when no log directory is configured
	readers  sync.WaitGroup
	maxQueue int
	drain    time.Duration // pipeDrainTimeout; tests shrink it

	mu        sync.Mutex
	ring      ring
	followers map[*follower]struct{}
	pipes     map[*os.File]struct{} // read ends being read
	fileErr   bool                  // a file error was logged and not yet resolved
	closed    bool
}

func newLogSink(log *slog.Logger, file *rotatingFile, lines int) *logSink {
	return &logSink{
		log: log, file: file, maxQueue: lines, drain: pipeDrainTimeout,
		ring: ring{buf: make([]string, lines)}, followers: map[*follower]struct{}{},
		pipes: map[*os.File]struct{}{},
	}
}

// pipe returns the write end of a new pipe for a process's stdout and
// stderr; a goroutine reads the other end until every writer has closed it.
// The caller closes the returned file once the process has started.
func (l *logSink) pipe() (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create log pipe: %w", err)
	}
	l.mu.Lock()
	l.pipes[r] = struct{}{}
	l.mu.Unlock()
	l.readers.Go(func() {
		l.readLines(r)
		l.mu.Lock()
		delete(l.pipes, r)
		l.mu.Unlock()
		_ = r.Close()
	})
	return w, nil
}

func (l *logSink) readLines(r io.Reader) {
	br := bufio.NewReaderSize(r, maxLineBytes)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			l.add(string(bytes.TrimRight(chunk, "\r\n")))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// add records one line everywhere. A file error is logged once, and the
// line still reaches the ring buffer and followers.
func (l *logSink) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring.add(line)
	for f := range l.followers {
		f.push(line, l.maxQueue)
	}
	if l.file == nil {
		return
	}
	_, err := l.file.Write(append([]byte(line), '\n'))
	switch {
	case err != nil && !l.fileErr:
		l.fileErr = true
		l.log.Warn("service log file write failed", "error", err)
	case err == nil && l.fileErr:
		l.fileErr = false
		l.log.Info("service log file writable again")
	}
}

// subscribe returns the last tail lines (all buffered ones if tail < 0) and,
// with follow, every later line, until cancel or close. Snapshot and
// subscription happen under one lock, so no line is lost or repeated.
func (l *logSink) subscribe(tail int, follow bool) (<-chan string, func()) {
	l.mu.Lock()
	lines := l.ring.last(tail)
	if !follow || l.closed {
		l.mu.Unlock()
		out := make(chan string, len(lines))
		for _, line := range lines {
			out <- line
		}
		close(out)
		return out, func() {}
	}
	f := &follower{wake: make(chan struct{}, 1), done: make(chan struct{})}
	l.followers[f] = struct{}{}
	l.mu.Unlock()

	out := make(chan string)
	go l.deliver(f, lines, out)
	cancel := func() {
		l.mu.Lock()
		delete(l.followers, f)
		l.mu.Unlock()
		f.stop()
	}
	return out, cancel
}

// deliver sends the tail, then the follower's queue as it fills, to out.
func (l *logSink) deliver(f *follower, tail []string, out chan<- string) {
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
		batch, dropped := f.queue, f.dropped
		f.queue, f.dropped = nil, 0
		l.mu.Unlock()
		if dropped > 0 && !send([]string{fmt.Sprintf("[supervisor: %d log lines dropped for a slow reader]", dropped)}) {
			return
		}
		if !send(batch) {
			return
		}
	}
}

// close waits for every pipe reader to reach end of file (the processes
// are gone by then), closes the pipes still open after the drain timeout,
// closes the file and ends every follower.
func (l *logSink) close() {
	drained := make(chan struct{})
	go func() {
		l.readers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(l.drain):
		l.mu.Lock()
		l.log.Warn("service output still open after its processes ended, closing it", "pipes", len(l.pipes))
		for r := range l.pipes {
			_ = r.Close() // interrupts the blocked Read
		}
		l.mu.Unlock()
		<-drained
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for f := range l.followers {
		delete(l.followers, f)
		f.stop()
	}
	if l.file != nil {
		if err := l.file.Close(); err != nil {
			l.log.Warn("service log file close failed", "error", err)
		}
	}
}

// follower is one Logs call with follow. Its queue is bounded: a reader
// that falls behind by more than the ring size loses the oldest lines
// (and is told how many) instead of stalling the service, whose writes
// would otherwise block on a full pipe.
type follower struct {
	queue   []string
	dropped int
	wake    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// push queues a line; the caller holds logSink.mu.
func (f *follower) push(line string, limit int) {
	if len(f.queue) >= limit {
		f.queue = f.queue[1:]
		f.dropped++
	}
	f.queue = append(f.queue, line)
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *follower) stop() { f.once.Do(func() { close(f.done) }) }

// ring holds the last len(buf) lines.
type ring struct {
	buf   []string
	start int // index of the oldest line
	n     int
}

func (r *ring) add(line string) {
	if len(r.buf) == 0 {
		return
	}
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = line
		r.n++
		return
	}
	r.buf[r.start] = line
	r.start = (r.start + 1) % len(r.buf)
}

// last returns the newest n lines, oldest first; n < 0 means all.
func (r *ring) last(n int) []string {
	if n < 0 || n > r.n {
		n = r.n
	}
	out := make([]string, n)
	for i := range n {
		out[i] = r.buf[(r.start+r.n-n+i)%len(r.buf)]
	}
	return out
}
