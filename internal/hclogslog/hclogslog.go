// Package hclogslog adapts hashicorp/go-hclog, the logger hashicorp/raft
// wants, onto a log/slog logger, so a node has one structured log stream.
package hclogslog

import (
	"context"
	"io"
	"log"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// levelTrace is below slog.LevelDebug: raft's trace lines are very chatty.
const levelTrace = slog.LevelDebug - 4

type logger struct {
	l     *slog.Logger
	name  string
	args  []any
	limit *limiter // shared by every logger derived from one New
}

// New returns an hclog.Logger writing to l. Messages keep raft's text as the
// constant message and its key/value pairs as attributes. Warnings and
// errors repeated for the same peer (raft logs "failed to heartbeat to"
// on every retry, several times a second while a peer is down) are written
// once per RepeatInterval, with the number suppressed since.
func New(l *slog.Logger) hclog.Logger { return &logger{l: l, limit: newLimiter(RepeatInterval)} }

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (h *logger) Log(level hclog.Level, msg string, args ...any) {
	lv := toSlog(level)
	if !h.l.Enabled(context.Background(), lv) {
		return
	}
	if lv >= slog.LevelWarn && h.limit != nil {
		suppressed, ok := h.limit.allow(msg, peerOf(args))
		if !ok {
			return
		}
		if suppressed > 0 {
			args = append(args, "suppressed", suppressed)
		}
	}
	h.l.Log(context.Background(), lv, msg, args...)
}

func (h *logger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *logger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *logger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *logger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *logger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *logger) enabled(lv slog.Level) bool { return h.l.Enabled(context.Background(), lv) }
func (h *logger) IsTrace() bool              { return h.enabled(levelTrace) }
func (h *logger) IsDebug() bool              { return h.enabled(slog.LevelDebug) }
func (h *logger) IsInfo() bool               { return h.enabled(slog.LevelInfo) }
func (h *logger) IsWarn() bool               { return h.enabled(slog.LevelWarn) }
func (h *logger) IsError() bool              { return h.enabled(slog.LevelError) }
func (h *logger) ImpliedArgs() []any         { return h.args }
func (h *logger) Name() string               { return h.name }

func (h *logger) With(args ...any) hclog.Logger {
	return &logger{l: h.l.With(args...), name: h.name, args: append(append([]any(nil), h.args...), args...), limit: h.limit}
}

func (h *logger) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

func (h *logger) ResetNamed(name string) hclog.Logger {
	return &logger{l: h.l.With("logger", name), name: name, args: h.args, limit: h.limit}
}

// SetLevel is a no-op: the slog handler owns the level.
func (h *logger) SetLevel(hclog.Level) {}

func (h *logger) GetLevel() hclog.Level {
	switch {
	case h.IsTrace():
		return hclog.Trace
	case h.IsDebug():
		return hclog.Debug
	case h.IsInfo():
		return hclog.Info
	case h.IsWarn():
		return hclog.Warn
	default:
		return hclog.Error
	}
}

func (h *logger) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(h.l.Handler(), slog.LevelInfo)
}

func (h *logger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(opts).Writer()
}
