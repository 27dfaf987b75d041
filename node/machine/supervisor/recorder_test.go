package supervisor_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// event is one recorded log record with its attributes flattened.
type event struct {
	time  time.Time
	msg   string
	attrs map[string]slog.Value
}

// recorder is a slog.Handler that keeps every record, so tests can assert
// on the supervisor's events (backoff delays, health restarts), and also
// writes them to the test's output.
type recorder struct {
	mu     *sync.Mutex
	events *[]event
	attrs  []slog.Attr
	next   slog.Handler
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{
		mu: new(sync.Mutex), events: new([]event),
		next: slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}),
	}
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(ctx context.Context, rec slog.Record) error {
	e := event{time: rec.Time, msg: rec.Message, attrs: map[string]slog.Value{}}
	for _, a := range r.attrs {
		e.attrs[a.Key] = a.Value
	}
	rec.Attrs(func(a slog.Attr) bool {
		e.attrs[a.Key] = a.Value
		return true
	})
	r.mu.Lock()
	*r.events = append(*r.events, e)
	r.mu.Unlock()
	return r.next.Handle(ctx, rec)
}

func (r *recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(slices.Clip(r.attrs), attrs...)
	c.next = r.next.WithAttrs(attrs)
	return &c
}

func (r *recorder) WithGroup(name string) slog.Handler {
	c := *r
	c.next = r.next.WithGroup(name)
	return &c
}

// events is a list of recorded events.
type events []event

// filter returns the events whose attribute key has value.
func (es events) filter(key, value string) events {
	var out events
	for _, e := range es {
		if e.attrs[key].String() == value {
			out = append(out, e)
		}
	}
	return out
}

// find returns the events with message msg about service, in order.
func (r *recorder) find(msg, service string) events {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out events
	for _, e := range *r.events {
		if e.msg == msg && e.attrs["service"].String() == service {
			out = append(out, e)
		}
	}
	return out
}

// durations returns attribute key of every matching event.
func (r *recorder) durations(msg, service, key string) []time.Duration {
	var out []time.Duration
	for _, e := range r.find(msg, service) {
		out = append(out, e.attrs[key].Duration())
	}
	return out
}
