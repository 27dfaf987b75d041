package backoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const ms = time.Millisecond

func delays(b *Backoff, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = b.Next()
	}
	return out
}

func TestDoublesCapsAndResets(t *testing.T) {
	b := Backoff{Initial: 10 * ms, Max: 50 * ms}
	require.Equal(t, []time.Duration{10 * ms, 20 * ms, 40 * ms, 50 * ms, 50 * ms}, delays(&b, 5))
	b.Reset()
	require.Equal(t, []time.Duration{10 * ms, 20 * ms}, delays(&b, 2), "back to Initial after Reset")
}

func TestCapReachedExactly(t *testing.T) {
	b := Backoff{Initial: 10 * ms, Max: 40 * ms}
	require.Equal(t, []time.Duration{10 * ms, 20 * ms, 40 * ms, 40 * ms}, delays(&b, 4))
}

func TestConstantWhenMaxIsInitial(t *testing.T) {
	for _, max := range []time.Duration{25 * ms, 0, time.Millisecond} {
		b := Backoff{Initial: 25 * ms, Max: max}
		require.Equal(t, []time.Duration{25 * ms, 25 * ms, 25 * ms}, delays(&b, 3), "max %v", max)
	}
}

func TestZeroValueWaitsNothing(t *testing.T) {
	var b Backoff
	require.Equal(t, []time.Duration{0, 0}, delays(&b, 2))
}

func TestCappedBeforeOverflow(t *testing.T) {
	b := Backoff{Initial: time.Duration(1) << 61, Max: time.Duration(1<<63 - 1)}
	for range 4 {
		require.Positive(t, b.Next())
	}
}

// TestJitterIsDeterministicWithRand: with an injected source the jittered
// delays are exact: d/2 plus whatever Rand returns for n = d/2.
func TestJitterIsDeterministicWithRand(t *testing.T) {
	var asked []time.Duration
	b := Backoff{Initial: 20 * ms, Max: 80 * ms, Jitter: true, Rand: func(n time.Duration) time.Duration {
		asked = append(asked, n)
		return n - 1 // the top of [0, n)
	}}
	require.Equal(t, []time.Duration{20*ms - 1, 40*ms - 1, 80*ms - 1, 80*ms - 1}, delays(&b, 4))
	require.Equal(t, []time.Duration{10 * ms, 20 * ms, 40 * ms, 40 * ms}, asked, "the unjittered sequence still doubles")
	b.Rand = func(time.Duration) time.Duration { return 0 }
	b.Reset()
	require.Equal(t, 10*ms, b.Next(), "the bottom of [d/2, d)")
}

func TestJitterStaysInRange(t *testing.T) {
	b := Backoff{Initial: 8 * ms, Max: 64 * ms, Jitter: true}
	want := []time.Duration{8 * ms, 16 * ms, 32 * ms, 64 * ms, 64 * ms}
	for i, d := range delays(&b, len(want)) {
		require.GreaterOrEqual(t, d, want[i]/2, "delay %d", i)
		require.Less(t, d, want[i], "delay %d", i)
	}
	tiny := Backoff{Initial: 1, Max: 1, Jitter: true}
	require.Equal(t, time.Duration(1), tiny.Next(), "nothing to spread")
}
