package runtime

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A source that fails at once backs off (10, 20, 40 ms…); one whose run
// lasted longer than its last delay is not crash-looping, and its next
// delay starts over at 10 ms.
func TestSourceBackoffStartsOverAfterALongRun(t *testing.T) {
	clock := &fakeClock{}
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	rt := New(NewState(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BackoffInitial: 10 * time.Millisecond, BackoffMax: time.Second})
	rt.after = clock.after
	rt.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	runs := 0
	done := make(chan struct{})
	src := &testSource{run: func(ctx context.Context) error {
		runs++
		switch runs {
		case 1, 2, 3:
			return errors.New("crash")
		case 4:
			mu.Lock()
			now = now.Add(time.Minute) // a long, healthy run
			mu.Unlock()
			return errors.New("dropped after a minute")
		case 5:
			return errors.New("crash again")
		}
		close(done)
		<-ctx.Done()
		return nil
	}}
	require.NoError(t, rt.RegisterSource(src))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- rt.Run(ctx) }()
	<-done
	cancel()
	require.NoError(t, <-errc)
	ms := time.Millisecond
	assert.Equal(t, []time.Duration{10 * ms, 20 * ms, 40 * ms, 10 * ms, 20 * ms}, clock.recorded())
}

type testSource struct{ run func(context.Context) error }

func (s *testSource) Name() string                            { return "test-source" }
func (s *testSource) Outputs() []string                       { return []string{"T"} }
func (s *testSource) Run(ctx context.Context, _ Writer) error { return s.run(ctx) }
