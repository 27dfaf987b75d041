package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"github.com/cairn-project/cairn/internal/backoff"
)

// Source feeds the state from outside it: the kernel's notifications, the
// cluster's config watch, gossip, a clock. Where a controller is one pass
// over resources, a source is one long-running loop — and it runs under the
// runtime for the same reasons: restart with backoff, panic recovery, and a
// status anyone can read (ControllerStatus), in one place instead of in
// every loop.
//
// Run produces outputs until ctx ends. Returning nil before then means the
// source is done (a one-time job such as seeding): it is not restarted.
// Returning an error (or panicking) restarts it after a backoff delay that
// doubles on consecutive failures and starts over once a run lasted longer
// than the delay before it (and at least a second): a crash loop backs off,
// a long-lived watch that drops now and then reconnects at once. A source's
// outputs are never cleaned up: it owns them and
// deletes what it wants gone.
type Source interface {
	// Name identifies the source in logs and status and owns its outputs.
	Name() string
	// Outputs lists the resource types Run writes, each owned by exactly one
	// controller or source.
	Outputs() []string
	// Run runs the loop; see Source.
	Run(ctx context.Context, w Writer) error
}

// RegisterSource adds a source; like Register, it must be called before Run
// and fails on a duplicate name or a conflicting output.
func (rt *Runtime) RegisterSource(s Source) error {
	reg := &registered{source: s, name: s.Name(), outputs: s.Outputs()}
	return rt.register(reg)
}

// runSource is one source's loop: run, and restart it after a failure.
func (rt *Runtime) runSource(ctx context.Context, c *registered) {
	log := rt.log.With("source", c.name)
	bo := backoff.Backoff{Initial: rt.opts.BackoffInitial, Max: rt.opts.BackoffMax}
	w := &sourceWriter{st: rt.st, c: c}
	var delay time.Duration
	for {
		rt.report(c, StateRunning, nil)
		started := rt.now()
		err := safeRunSource(ctx, c.source, w, log)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			log.Debug("source done")
			rt.report(c, StateDone, nil)
			return
		}
		if rt.now().Sub(started) >= max(delay, stableRun) {
			// It ran longer than it waited: not a crash loop. A watch that
			// drops once an hour must not wait out the cap for it.
			bo.Reset()
		}
		delay = bo.Next()
		log.Error("source stopped; restarting", "err", err, "retry_in", delay)
		rt.report(c, StateFailing, err)
		select {
		case <-ctx.Done():
			return
		case <-rt.after(delay):
		}
	}
}

// stableRun is how long a source's run must last, at least, for its
// restart backoff to start over.
const stableRun = time.Second

// safeRunSource calls Run, turning a panic into an error.
func safeRunSource(ctx context.Context, s Source, w Writer, log *slog.Logger) (err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("source panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", ErrControllerPanic, v)
		}
	}()
	return s.Run(ctx, w)
}

// sourceWriter is a source's write access: its declared outputs only, as
// its own resources, for as long as it runs.
type sourceWriter struct {
	st *State
	c  *registered
}

func (w *sourceWriter) Put(typ, id string, spec any, labels map[string]string) error {
	if !slices.Contains(w.c.outputs, typ) {
		return fmt.Errorf("source %s: %w: %s", w.c.name, ErrUndeclaredOutput, typ)
	}
	_, err := w.st.Put(Resource{Type: typ, ID: id, Spec: spec, Labels: labels, Owner: w.c.name})
	return err
}

func (w *sourceWriter) Delete(typ, id string) error {
	if !slices.Contains(w.c.outputs, typ) {
		return fmt.Errorf("source %s: %w: %s", w.c.name, ErrUndeclaredOutput, typ)
	}
	return ignoreNotFound(w.st.Delete(typ, id, w.c.name))
}
