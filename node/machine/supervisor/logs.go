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

	"github.com/cairn-project/cairn/internal/linebuf"
)

// maxLineBytes splits longer lines, so one runaway line cannot grow the
// reader's buffer without bound.
const maxLineBytes = 64 << 10

// pipeDrainTimeout bounds how long Run's shutdown waits for output pipes to
// reach end of file once every service is stopped. Only a process that left
// its service's process group (setsid) can keep one open that long.
const pipeDrainTimeout = 2 * time.Second

// logSink collects one service's output across all its processes: it
// splits it into lines and appends each to the rotated file and to the
// buffer of recent lines, which serves followers.
type logSink struct {
	log     *slog.Logger
	file    *rotatingFile // nil when no log directory is configured
	readers sync.WaitGroup
	drain   time.Duration // pipeDrainTimeout; tests shrink it
	// lines holds the last lines and feeds followers. Each follower's
	// queue is bounded like it: a reader that falls behind by more loses
	// the oldest lines (and is told how many) instead of stalling the
	// service, whose writes would otherwise block on a full pipe.
	lines *linebuf.Buffer

	mu      sync.Mutex
	pipes   map[*os.File]struct{} // read ends being read
	fileErr bool                  // a file error was logged and not yet resolved
}

func newLogSink(log *slog.Logger, file *rotatingFile, lines int) *logSink {
	return &logSink{
		log: log, file: file, drain: pipeDrainTimeout,
		lines: linebuf.New(linebuf.Options{MaxLines: lines, Dropped: droppedLine}),
		pipes: map[*os.File]struct{}{},
	}
}

// droppedLine is what a follower reads in place of n lines it was too slow
// to take.
func droppedLine(n int) string {
	return fmt.Sprintf("[supervisor: %d log lines dropped for a slow reader]", n)
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
	l.lines.Add(line)
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
	return l.lines.Lines(tail, follow)
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
	l.lines.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		if err := l.file.Close(); err != nil {
			l.log.Warn("service log file close failed", "error", err)
		}
	}
}
