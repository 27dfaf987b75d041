package runtime_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/runtime"
)

// src is a Source built from a function.
type src struct {
	name    string
	outputs []string
	run     func(ctx context.Context, w runtime.Writer) error
}

func (s *src) Name() string                                    { return s.name }
func (s *src) Outputs() []string                               { return s.outputs }
func (s *src) Run(ctx context.Context, w runtime.Writer) error { return s.run(ctx, w) }

func startSources(t *testing.T, st *runtime.State, srcs ...runtime.Source) {
	t.Helper()
	rt := runtime.New(st, testOptions(t))
	for _, s := range srcs {
		require.NoError(t, rt.RegisterSource(s))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
}

func statusOf(t require.TestingT, st *runtime.State, name string) runtime.ControllerStatusSpec {
	r, err := st.Get(runtime.TypeControllerStatus, name)
	require.NoError(t, err)
	spec, ok := r.Spec.(runtime.ControllerStatusSpec)
	require.True(t, ok)
	return spec
}

// A source that fails (by error and by panic) is restarted under backoff,
// and its failures are visible in ControllerStatus; it then keeps running.
func TestSourceIsRestartedAndItsFailuresAreVisible(t *testing.T) {
	st := runtime.NewState()
	var runs atomic.Int32
	startSources(t, st, &src{name: "feed", outputs: []string{"Feed"}, run: func(ctx context.Context, w runtime.Writer) error {
		switch runs.Add(1) {
		case 1:
			return errors.New("upstream went away")
		case 2:
			panic("boom")
		}
		if err := w.Put("Feed", "x", "fresh", nil); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r, err := st.Get("Feed", "x")
		require.NoError(ct, err)
		assert.Equal(ct, "fresh", r.Spec)
		s := statusOf(ct, st, "feed")
		assert.Equal(ct, "source", s.Kind)
		assert.Equal(ct, runtime.StateRunning, s.State)
		assert.Equal(ct, 2, s.Failures)
		assert.Contains(ct, s.LastError, "boom")
	}, waitTimeout, time.Millisecond)
	assert.Equal(t, int32(3), runs.Load())
}

// A source that returns nil is done and not run again; one that writes an
// undeclared output is refused.
func TestSourceDoneAndUndeclaredOutput(t *testing.T) {
	st := runtime.NewState()
	var runs atomic.Int32
	startSources(t, st,
		&src{name: "once", outputs: []string{"Once"}, run: func(context.Context, runtime.Writer) error { runs.Add(1); return nil }},
		&src{name: "stray", outputs: []string{"Mine"}, run: func(ctx context.Context, w runtime.Writer) error {
			return w.Put("Other", "x", 1, nil)
		}},
	)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, runtime.StateDone, statusOf(ct, st, "once").State)
		s := statusOf(ct, st, "stray")
		assert.Equal(ct, runtime.StateFailing, s.State)
		assert.Contains(ct, s.LastError, "undeclared output")
	}, waitTimeout, time.Millisecond)
	assert.Equal(t, int32(1), runs.Load())
}

// A controller's failed pass is visible too, and clears when a pass
// succeeds.
func TestControllerFailureIsVisibleInStatus(t *testing.T) {
	st := runtime.NewState()
	var passes atomic.Int32
	startRuntime(t, st, &ctrl{name: "c", outputs: []string{"Out"}, run: func(_ context.Context, _ runtime.Reader, w runtime.Writer) error {
		if passes.Add(1) == 1 {
			return errors.New("not yet")
		}
		return w.Put("Out", "x", 1, nil)
	}})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		s := statusOf(ct, st, "c")
		assert.Equal(ct, "controller", s.Kind)
		assert.Equal(ct, runtime.StateRunning, s.State)
		assert.Equal(ct, 1, s.Failures)
		assert.Equal(ct, "not yet", s.LastError)
	}, waitTimeout, time.Millisecond)
}
