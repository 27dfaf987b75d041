package nodelog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/cairn-project/cairn/internal/linebuf"
)

// Default bounds of the in-memory log: the last 5,000 lines, and no more
// than 2 MiB of them (about 400 bytes a line on average; cairnd's lines are
// shorter, so the line bound usually binds first).
const (
	DefaultMaxLines = 5000
	DefaultMaxBytes = 2 << 20
)

// Options configures a Log.
type Options struct {
	// Out receives every record as well, formatted the same way: the
	// process's stderr. Nil discards it (tests).
	Out io.Writer
	// Format is "text" (slog.TextHandler, the default when empty) or
	// "json" (slog.JSONHandler).
	Format string
	// Level is the initial level; SetLevel changes it.
	Level slog.Level
	// MaxLines and MaxBytes bound the lines kept in memory, and each
	// follower's backlog; zero means DefaultMaxLines and DefaultMaxBytes.
	MaxLines, MaxBytes int
}

// Log is the node's own log. Its Handler formats each record once, writes
// it to Options.Out and keeps it in a ring that Lines reads. It is safe for
// concurrent use.
type Log struct {
	out     io.Writer
	format  string
	level   slog.LevelVar
	levelMu sync.Mutex // makes SetLevel's read and write one step
	handler slog.Handler
	lines   *linebuf.Buffer
}

// New returns a Log; it fails only with ErrFormat.
func New(o Options) (*Log, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Format == "" {
		o.Format = "text"
	}
	if o.MaxLines <= 0 {
		o.MaxLines = DefaultMaxLines
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	l := &Log{out: o.Out, format: o.Format}
	l.lines = linebuf.New(linebuf.Options{MaxLines: o.MaxLines, MaxBytes: o.MaxBytes, Dropped: l.droppedLine})
	l.level.Set(o.Level)
	h, err := newHandler(o.Format, teeWriter{l}, &l.level)
	if err != nil {
		return nil, err
	}
	l.handler = h
	return l, nil
}

// newHandler builds the slog handler for format writing to w.
func newHandler(format string, w io.Writer, level slog.Leveler) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("%w: %q is neither text nor json", ErrFormat, format)
}

// Handler is the handler to build the node's loggers on. Records below the
// current level are dropped before they are formatted.
func (l *Log) Handler() slog.Handler { return l.handler }

// Level returns the current level.
func (l *Log) Level() slog.Level { return l.level.Level() }

// SetLevel changes the level for every logger built on Handler, at once,
// and returns the level it replaced.
func (l *Log) SetLevel(level slog.Level) (previous slog.Level) {
	l.levelMu.Lock()
	defer l.levelMu.Unlock()
	previous = l.level.Level()
	l.level.Set(level)
	return previous
}

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
	return l.lines.Lines(tail, follow)
}

// teeWriter is what the slog handler writes to. slog's text and JSON
// handlers write each record as one line in one Write call, serialized by
// a mutex that every handler derived with WithAttrs or WithGroup shares, so
// the ring sees records in the order stderr does.
type teeWriter struct{ l *Log }

// Write writes p to Out and then adds its lines to the ring and to every
// follower's backlog, even if Out failed (its error is returned to slog,
// which drops it).
func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.l.out.Write(p)
	t.l.add(p)
	if err != nil {
		return n, fmt.Errorf("write log: %w", err)
	}
	return len(p), nil
}

// add records the lines of p, in one step; it never waits for a follower.
func (l *Log) add(p []byte) {
	var lines []string
	for line := range bytes.Lines(p) {
		lines = append(lines, string(bytes.TrimRight(line, "\r\n")))
	}
	l.lines.Add(lines...)
}

// droppedLine formats the notice a follower gets in place of lines it was
// too slow to take, as a record in the log's own format, so that a reader
// of JSON lines still reads JSON.
func (l *Log) droppedLine(n int) string {
	var buf bytes.Buffer
	h, err := newHandler(l.format, &buf, slog.LevelDebug)
	if err != nil {
		return fmt.Sprintf("%d log lines dropped for a slow reader", n)
	}
	r := slog.NewRecord(time.Now(), slog.LevelWarn, "log lines dropped for a slow reader", 0)
	r.AddAttrs(slog.Int("dropped", n))
	_ = h.Handle(context.Background(), r)
	return string(bytes.TrimRight(buf.Bytes(), "\n"))
}
