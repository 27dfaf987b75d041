package runtime

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeClock stands in for time.After: it records each requested delay and
// fires at once, so restarts can be counted without waiting them out.
type fakeClock struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.delays = append(c.delays, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func (c *fakeClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.delays)
}

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec)
	r.mu.Unlock()
	return nil
}

// panicStacks returns the stack attribute of every "controller panicked".
func (r *recorder) panicStacks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.records {
		if rec.Message != "controller panicked" {
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "stack" {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	return out
}

type flaky struct {
	calls atomic.Int32
	fails map[int32]bool // call number -> panic (true) or error (false)
}

func (*flaky) Name() string      { return "flaky" }
func (*flaky) Inputs() []Input   { return []Input{{Type: "Config", ID: "x"}} }
func (*flaky) Outputs() []string { return []string{"Out"} }
func (f *flaky) Run(_ context.Context, r Reader, w Writer) error {
	n := f.calls.Add(1)
	if doPanic, fail := f.fails[n]; fail {
		if doPanic {
			panic("boom")
		}
		return errors.New("transient")
	}
	cfg, err := r.Get("Config", "x")
	if err != nil {
		return err
	}
	return w.Put("Out", "x", cfg.Spec, nil)
}

// TestRestartBackoff counts restarts through the clock: four failures in a
// row wait 10, 20, 40 and 40 (capped) ms; the success resets the backoff, so
// the next failure waits 10 ms again.
func TestRestartBackoff(t *testing.T) {
	st := NewState()
	_, err := st.Put(Resource{Type: "Config", ID: "x", Spec: "v1"})
	require.NoError(t, err)
	rec := &recorder{}
	clock := &fakeClock{}
	rt := New(st, Options{Logger: slog.New(rec), BackoffInitial: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond})
	rt.after = clock.after
	f := &flaky{fails: map[int32]bool{1: true, 2: false, 3: true, 4: false, 6: false}}
	require.NoError(t, rt.Register(f))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	waitOut := func(want string) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		for ev := range st.Watch(wctx, "Out", "x") {
			if ev.Resource.Spec == want {
				return
			}
		}
		require.FailNow(t, "output never reached", want)
	}
	waitOut("v1")
	_, err = st.Put(Resource{Type: "Config", ID: "x", Spec: "v2"})
	require.NoError(t, err)
	waitOut("v2")

	ms := time.Millisecond
	require.Equal(t, []time.Duration{10 * ms, 20 * ms, 40 * ms, 40 * ms, 10 * ms}, clock.recorded())
	require.EqualValues(t, 7, f.calls.Load())
	stacks := rec.panicStacks()
	require.Len(t, stacks, 2)
	require.True(t, strings.Contains(stacks[0], "(*flaky).Run"), "stack names the panicking controller: %s", stacks[0])
}
