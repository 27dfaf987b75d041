package node

import (
	"context"
	"log/slog"
	"slices"
)

// onceAttrs wraps h so that logger attributes (Logger.With) under one of
// keys are kept the first time only. The node tags its logger with "node"
// once, at the top; components that also run on their own, several to a
// process in their tests (consensus, gossip), tag their loggers again, and
// without this every one of their lines would carry "node" twice.
// Attributes of a single log call (a "node" naming a peer) are untouched,
// and so is everything inside a group, where the key means something else.
func onceAttrs(h slog.Handler, keys ...string) slog.Handler {
	return &onceHandler{inner: h, keys: keys}
}

type onceHandler struct {
	inner slog.Handler
	keys  []string // kept once each
	seen  []string // of keys, those already added
}

func (h *onceHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *onceHandler) Handle(ctx context.Context, r slog.Record) error { return h.inner.Handle(ctx, r) }

func (h *onceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	seen := slices.Clip(h.seen)
	kept := make([]slog.Attr, 0, len(attrs))
	for _, a := range attrs {
		if slices.Contains(h.keys, a.Key) {
			if slices.Contains(seen, a.Key) {
				continue
			}
			seen = append(seen, a.Key)
		}
		kept = append(kept, a)
	}
	return &onceHandler{inner: h.inner.WithAttrs(kept), keys: h.keys, seen: seen}
}

// WithGroup stops the filtering: keys inside a group are other keys.
func (h *onceHandler) WithGroup(name string) slog.Handler {
	return &onceHandler{inner: h.inner.WithGroup(name)}
}
