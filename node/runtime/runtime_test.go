package runtime_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/runtime"
)

// waitTick is how often require.Eventually polls.
const waitTick = time.Millisecond

func TestChainFollowsInputs(t *testing.T) {
	st := runtime.NewState()
	put(t, st, "Config", "x", "1")
	put(t, st, "Config", "y", "2")
	startRuntime(t, st,
		mapper("b", "Spec", "Status", "-b"), // registered first: order must not matter
		mapper("a", "Config", "Spec", "-a"),
	)
	waitSpecs(t, st, "Status", map[string]any{"x": "1-a-b", "y": "2-a-b"})

	put(t, st, "Config", "x", "3")
	put(t, st, "Config", "z", "4")
	waitSpecs(t, st, "Status", map[string]any{"x": "3-a-b", "y": "2-a-b", "z": "4-a-b"})

	// Deleting an input removes what was derived from it, link by link.
	require.NoError(t, st.Delete("Config", "y", ""))
	waitSpecs(t, st, "Status", map[string]any{"x": "3-a-b", "z": "4-a-b"})
	require.Equal(t, map[string]any{"x": "3-a", "z": "4-a"}, specs(st, "Spec"))

	r, err := st.Get("Status", "x")
	require.NoError(t, err)
	require.Equal(t, "b", r.Owner)
}

func TestUndeclaredAccessRefused(t *testing.T) {
	st := runtime.NewState()
	type result struct {
		name string
		err  error
	}
	results := make(chan []result, 1)
	leaked := make(chan runtime.Writer, 1)
	c := &ctrl{
		name:    "probe",
		inputs:  []runtime.Input{{Type: "Config"}, {Type: "Node", ID: "self"}},
		outputs: []string{"Out"},
		run: func(_ context.Context, r runtime.Reader, w runtime.Writer) error {
			var rs []result
			add := func(name string, err error) { rs = append(rs, result{name, err}) }
			_, err := r.Get("Secret", "x")
			add("get undeclared type", err)
			_, err = r.List("Node")
			add("list of an input pinned to one id", err)
			_, err = r.Get("Node", "other")
			add("get another id of a pinned input", err)
			_, err = r.Get("Node", "self")
			add("get the pinned id", err)
			_, err = r.List("Config")
			add("list a declared type", err)
			_, err = r.Get("Out", "x")
			add("get an own output", err)
			add("put undeclared type", w.Put("Config", "x", "v", nil))
			add("delete undeclared type", w.Delete("Config", "x"))
			add("delete missing output", w.Delete("Out", "missing"))
			select {
			case results <- rs:
				leaked <- w
			default:
			}
			return nil
		},
	}
	startRuntime(t, st, c)

	want := map[string]error{
		"get undeclared type":               runtime.ErrUndeclaredInput,
		"list of an input pinned to one id": runtime.ErrUndeclaredInput,
		"get another id of a pinned input":  runtime.ErrUndeclaredInput,
		"get the pinned id":                 runtime.ErrNotFound,
		"list a declared type":              nil,
		"get an own output":                 runtime.ErrNotFound,
		"put undeclared type":               runtime.ErrUndeclaredOutput,
		"delete undeclared type":            runtime.ErrUndeclaredOutput,
		"delete missing output":             nil,
	}
	got := <-results
	require.Len(t, got, len(want))
	for _, r := range got {
		if want[r.name] == nil {
			require.NoError(t, r.err, r.name)
		} else {
			require.ErrorIs(t, r.err, want[r.name], r.name)
		}
	}

	// A Writer kept past its pass is dead, so it cannot dodge cleanup.
	w := <-leaked
	require.Eventually(t, func() bool {
		return errors.Is(w.Put("Out", "late", "v", nil), runtime.ErrPassEnded)
	}, waitTimeout, waitTick)
	_, err := st.Get("Out", "late")
	require.ErrorIs(t, err, runtime.ErrNotFound)
}

func TestRegisterRefuses(t *testing.T) {
	rt := runtime.New(runtime.NewState(), testOptions(t))
	require.NoError(t, rt.Register(mapper("a", "Config", "Spec", "")))
	require.ErrorIs(t, rt.Register(mapper("a", "Config", "Other", "")), runtime.ErrDuplicateController)
	require.ErrorIs(t, rt.Register(mapper("b", "Config", "Spec", "")), runtime.ErrOutputConflict, "one owner per output type")
	require.ErrorIs(t, rt.Register(&ctrl{name: "c"}), runtime.ErrInvalidController, "no outputs")
	require.ErrorIs(t, rt.Register(mapper("", "Config", "X", "")), runtime.ErrInvalidController)
	require.ErrorIs(t, rt.Register(mapper("d", "", "Y", "")), runtime.ErrInvalidController)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, rt.Run(ctx))
	require.ErrorIs(t, rt.Run(ctx), runtime.ErrRunning)
	require.ErrorIs(t, rt.Register(mapper("e", "Config", "Z", "")), runtime.ErrRunning)
}

func TestCleanupDeletesUntouchedOutputs(t *testing.T) {
	st := runtime.NewState()
	failed := make(chan struct{}, 1)
	c := mapper("a", "Config", "Out", "")
	mapRun := c.run
	c.run = func(ctx context.Context, r runtime.Reader, w runtime.Writer) error {
		if _, err := r.Get("Config", "fail"); err == nil {
			select {
			case failed <- struct{}{}:
			default:
			}
			return errors.New("told to fail")
		}
		return mapRun(ctx, r, w)
	}
	// An output left over from an earlier run of the same controller (a
	// restart) is cleaned up by its first pass.
	_, err := st.Put(runtime.Resource{Type: "Out", ID: "stale", Spec: "old", Owner: "a"})
	require.NoError(t, err)
	put(t, st, "Config", "keep", "k")
	put(t, st, "Config", "drop", "d")
	startRuntime(t, st, c)
	waitSpecs(t, st, "Out", map[string]any{"keep": "k", "drop": "d"})
	keep, err := st.Get("Out", "keep")
	require.NoError(t, err)

	// A failed pass writes nothing, but must not clean up either. Two
	// failures after draining prove a failed pass ran after the delete.
	put(t, st, "Config", "fail", "f")
	require.NoError(t, st.Delete("Config", "drop", ""))
	drain(failed)
	<-failed
	<-failed
	require.Equal(t, map[string]any{"keep": "k", "drop": "d"}, specs(st, "Out"))

	require.NoError(t, st.Delete("Config", "fail", ""))
	waitSpecs(t, st, "Out", map[string]any{"keep": "k"})
	after, err := st.Get("Out", "keep")
	require.NoError(t, err)
	require.Equal(t, keep.Version, after.Version, "rewritten every pass, never changed")
}

func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

func TestRewritingOutputsEmitsNothing(t *testing.T) {
	st := runtime.NewState()
	put(t, st, "Config", "a", "1")
	put(t, st, "Config", "b", "2")
	startRuntime(t, st, mapper("m", "Config", "Out", ""))
	waitSpecs(t, st, "Out", map[string]any{"a": "1", "b": "2"})

	ch := watch(t, st, "Out", "")
	for next(t, ch).Type != runtime.EventBootstrapped {
	}
	put(t, st, "Config", "b", "3")
	// The pass rewrote a too; only b's change may reach watchers.
	ev := next(t, ch)
	require.Equal(t, runtime.EventUpdated, ev.Type)
	require.Equal(t, "b", ev.Resource.ID)
	require.Equal(t, "3", ev.Resource.Spec)
}

func TestPanicIsRecoveredAndRetried(t *testing.T) {
	st := runtime.NewState()
	var calls atomic.Int32
	c := mapper("a", "Config", "Out", "")
	mapRun := c.run
	c.run = func(ctx context.Context, r runtime.Reader, w runtime.Writer) error {
		if calls.Add(1) <= 3 {
			panic("boom")
		}
		return mapRun(ctx, r, w)
	}
	put(t, st, "Config", "x", "1")
	startRuntime(t, st, c)
	waitSpecs(t, st, "Out", map[string]any{"x": "1"})
	require.EqualValues(t, 4, calls.Load(), "three panics, three restarts, one success")
}
