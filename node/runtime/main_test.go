package runtime_test

import (
	"context"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/node/runtime"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// watch pump and controller loop must end with its context.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait on a watch; reaching it is a failure.
const waitTimeout = 10 * time.Second

// testOptions holds the timings every runtime test uses: backoff is shrunk
// so retries take milliseconds.
func testOptions(t *testing.T) runtime.Options {
	return runtime.Options{
		Logger:         slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		BackoffInitial: time.Millisecond,
		BackoffMax:     10 * time.Millisecond,
	}
}

// startRuntime registers ctrls on a runtime over st and runs it until the
// test ends; cleanup waits for Run to return.
func startRuntime(t *testing.T, st *runtime.State, ctrls ...runtime.Controller) *runtime.Runtime {
	t.Helper()
	rt := runtime.New(st, testOptions(t))
	for _, c := range ctrls {
		require.NoError(t, rt.Register(c))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return rt
}

// ctrl is a Controller built from a function, declaring what each test
// needs.
type ctrl struct {
	name    string
	inputs  []runtime.Input
	outputs []string
	run     func(ctx context.Context, r runtime.Reader, w runtime.Writer) error
}

func (c *ctrl) Name() string            { return c.name }
func (c *ctrl) Inputs() []runtime.Input { return c.inputs }
func (c *ctrl) Outputs() []string       { return c.outputs }
func (c *ctrl) Run(ctx context.Context, r runtime.Reader, w runtime.Writer) error {
	return c.run(ctx, r, w)
}

// mapper returns a controller that writes, for every resource of type in,
// an output of type out with the same ID and spec+suffix: a one-link
// pipeline like config → spec.
func mapper(name, in, out, suffix string) *ctrl {
	return &ctrl{
		name: name, inputs: []runtime.Input{{Type: in}}, outputs: []string{out},
		run: func(_ context.Context, r runtime.Reader, w runtime.Writer) error {
			list, err := r.List(in)
			if err != nil {
				return err
			}
			for _, res := range list {
				if err := w.Put(out, res.ID, res.Spec.(string)+suffix, res.Labels); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// watch watches typ until the test ends.
func watch(t *testing.T, st *runtime.State, typ, id string) <-chan runtime.Event {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return st.Watch(ctx, typ, id)
}

// next returns the next event from ch, failing the test after waitTimeout.
func next(t *testing.T, ch <-chan runtime.Event) runtime.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "watch closed")
		return ev
	case <-time.After(waitTimeout):
		require.FailNow(t, "no event within timeout")
	}
	return runtime.Event{}
}

// specs returns the specs of every resource of typ, by ID.
func specs(st *runtime.State, typ string) map[string]any {
	out := map[string]any{}
	for _, r := range st.List(typ) {
		out[r.ID] = r.Spec
	}
	return out
}

// waitSpecs waits, driven by a watch on typ, until the specs of typ are
// exactly want.
func waitSpecs(t *testing.T, st *runtime.State, typ string, want map[string]any) {
	t.Helper()
	ch := watch(t, st, typ, "")
	for !maps.Equal(specs(st, typ), want) {
		next(t, ch)
	}
}

// put writes an external (ownerless) resource.
func put(t *testing.T, st *runtime.State, typ, id string, spec any) runtime.Resource {
	t.Helper()
	r, err := st.Put(runtime.Resource{Type: typ, ID: id, Spec: spec})
	require.NoError(t, err)
	return r
}
