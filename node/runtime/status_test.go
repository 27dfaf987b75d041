package runtime_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/runtime"
)

// TestPassStatusMarksPassesThatSawAWrite: once PassStatus.Seen reaches a
// write's version, a pass that read that write has ended, with its error
// recorded; a pass that writes nothing is observable this way too.
func TestPassStatusMarksPassesThatSawAWrite(t *testing.T) {
	st := runtime.NewState()
	c := &ctrl{
		name: "picky", inputs: []runtime.Input{{Type: "Config", ID: "x"}}, outputs: []string{"Out"},
		run: func(_ context.Context, r runtime.Reader, w runtime.Writer) error {
			cfg, err := r.Get("Config", "x")
			switch {
			case errors.Is(err, runtime.ErrNotFound):
				return nil // nothing to do: writes nothing
			case err != nil:
				return err
			case cfg.Spec == "bad":
				return errors.New("bad config")
			}
			return w.Put("Out", "x", cfg.Spec, nil)
		},
	}
	rt := startRuntime(t, st, c)
	_, ok := rt.PassStatus("nobody")
	require.False(t, ok)

	waitPass := func(version uint64) runtime.PassStatus {
		t.Helper()
		var ps runtime.PassStatus
		require.Eventually(t, func() bool {
			ps, _ = rt.PassStatus("picky")
			return ps.Seen >= version
		}, waitTimeout, waitTick)
		return ps
	}

	bad := put(t, st, "Config", "x", "bad")
	ps := waitPass(bad.Version)
	require.ErrorContains(t, ps.Err, "bad config")
	require.GreaterOrEqual(t, ps.Passes, uint64(1))
	_, err := st.Get("Out", "x")
	require.ErrorIs(t, err, runtime.ErrNotFound, "the pass that saw the bad config has ended and wrote nothing")

	good := put(t, st, "Config", "x", "good")
	ps = waitPass(good.Version)
	require.NoError(t, ps.Err)
	out, err := st.Get("Out", "x")
	require.NoError(t, err)
	require.Equal(t, "good", out.Spec)
}
