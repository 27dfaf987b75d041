package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/cairn-project/cairn/internal/backoff"
)

// Default restart backoff, used when Options leaves it zero.
const (
	DefaultBackoffInitial = 100 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
)

// Options configures a Runtime.
type Options struct {
	// Logger receives the runtime's logs; nil discards them.
	Logger *slog.Logger
	// BackoffInitial is the wait before retrying a failed pass; it doubles
	// on each consecutive failure up to BackoffMax and resets after a pass
	// succeeds.
	BackoffInitial time.Duration
	// BackoffMax caps the wait between retries.
	BackoffMax time.Duration
}

// Runtime runs registered controllers against one State and enforces their
// declared inputs and outputs.
type Runtime struct {
	st   *State
	log  *slog.Logger
	opts Options
	// after and now are the clock; tests replace them to observe backoff
	// delays and to make runs last.
	after func(time.Duration) <-chan time.Time
	now   func() time.Time

	mu      sync.Mutex
	running bool
	ctrls   []*registered
	owners  map[string]string // output type -> controller name
}

// New returns a Runtime over st with no controllers.
func New(st *State, opts Options) *Runtime {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BackoffInitial <= 0 {
		opts.BackoffInitial = DefaultBackoffInitial
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = max(DefaultBackoffMax, opts.BackoffInitial)
	}
	opts.BackoffMax = max(opts.BackoffMax, opts.BackoffInitial)
	return &Runtime{
		st: st, opts: opts, after: time.After, now: time.Now,
		log:    opts.Logger.With("component", "runtime"),
		owners: map[string]string{TypeControllerStatus: ownerRuntime},
	}
}

// Register adds a controller; it must be called before Run. It fails with
// ErrInvalidController, ErrDuplicateController or ErrOutputConflict, and
// with ErrRunning once Run has started.
func (rt *Runtime) Register(c Controller) error {
	reg := &registered{ctrl: c, name: c.Name(), inputs: c.Inputs(), outputs: c.Outputs()}
	return rt.register(reg)
}

// register checks and records a controller or a source.
func (rt *Runtime) register(reg *registered) error {
	if err := validate(reg); err != nil {
		return err
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.running {
		return fmt.Errorf("register %s: %w", reg.name, ErrRunning)
	}
	for _, other := range rt.ctrls {
		if other.name == reg.name {
			return fmt.Errorf("register %s: %w", reg.name, ErrDuplicateController)
		}
	}
	for _, typ := range reg.outputs {
		if owner, ok := rt.owners[typ]; ok {
			return fmt.Errorf("register %s: %w: %s is written by %s", reg.name, ErrOutputConflict, typ, owner)
		}
	}
	for _, typ := range reg.outputs {
		rt.owners[typ] = reg.name
	}
	rt.ctrls = append(rt.ctrls, reg)
	return nil
}

func validate(reg *registered) error {
	if reg.name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidController)
	}
	if len(reg.outputs) == 0 {
		return fmt.Errorf("register %s: %w: no outputs", reg.name, ErrInvalidController)
	}
	for _, typ := range reg.outputs {
		if typ == "" {
			return fmt.Errorf("register %s: %w: empty output type", reg.name, ErrInvalidController)
		}
	}
	for _, in := range reg.inputs {
		if in.Type == "" {
			return fmt.Errorf("register %s: %w: empty input type", reg.name, ErrInvalidController)
		}
	}
	return nil
}

// Run runs every registered controller until ctx ends, then waits for them
// to return. It returns nil after a clean shutdown and ErrRunning if called
// twice; a controller's errors never end Run, they only delay its next
// pass.
func (rt *Runtime) Run(ctx context.Context) error {
	rt.mu.Lock()
	if rt.running {
		rt.mu.Unlock()
		return ErrRunning
	}
	rt.running = true
	ctrls := rt.ctrls
	rt.mu.Unlock()

	var wg sync.WaitGroup
	for _, c := range ctrls {
		if c.source != nil {
			wg.Go(func() { rt.runSource(ctx, c) })
			continue
		}
		wg.Go(func() { rt.runController(ctx, c) })
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// runController is one controller's loop: wait for a trigger, run a pass,
// retry failures with backoff.
func (rt *Runtime) runController(ctx context.Context, c *registered) {
	log := rt.log.With("controller", c.name)
	wake := make(chan struct{}, 1)
	// Subscribe before the first pass, so no change can fall between what
	// that pass reads and the first wake-up.
	defer rt.st.subscribe(c.inputs, wake)()
	// Not a plain send: a change may already have filled the one slot
	// since subscribe, and then a wake-up is pending anyway. A plain send
	// blocked here for good, so the controller never ran and Run never
	// returned (a node hung in its shutdown).
	select {
	case wake <- struct{}{}:
	default:
	}
	rt.report(c, StateRunning, nil)
	bo := backoff.Backoff{Initial: rt.opts.BackoffInitial, Max: rt.opts.BackoffMax}
	failing := false
	log.Debug("controller started")
	defer log.Debug("controller stopped")
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		for {
			// This pass reads the state as of now, so a wake-up queued
			// before it starts is already served.
			select {
			case <-wake:
			default:
			}
			err := rt.pass(ctx, c, log)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				if failing {
					rt.report(c, StateRunning, nil)
					failing = false
				}
				bo.Reset()
				break
			}
			delay := bo.Next()
			log.Error("controller pass failed", "err", err, "retry_in", delay)
			rt.report(c, StateFailing, err)
			failing = true
			select {
			case <-ctx.Done():
				return
			case <-rt.after(delay):
			}
		}
	}
}

// pass runs one reconcile pass and, if it succeeds, deletes the outputs it
// did not write. It records the pass's end, cleanup included, in
// c.record.
func (rt *Runtime) pass(ctx context.Context, c *registered, log *slog.Logger) (err error) {
	seen := rt.st.version()
	defer func() { c.record.ended(seen, err) }()
	p := newPass(rt.st, c)
	err = safeRun(ctx, c.ctrl, p, log)
	p.end()
	if err != nil {
		return err
	}
	return p.cleanup()
}

// safeRun calls Run, turning a panic into an error wrapping
// ErrControllerPanic so one broken controller cannot take the node down.
func safeRun(ctx context.Context, c Controller, p *pass, log *slog.Logger) (err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("controller panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", ErrControllerPanic, v)
		}
	}()
	return c.Run(ctx, p, p)
}
