package node

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

	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/runtime"
)

// failingSource fails every run until healed.
type failingSource struct {
	mu     sync.Mutex
	healed bool
}

func (f *failingSource) Name() string      { return "flaky-feed" }
func (f *failingSource) Outputs() []string { return []string{"Feed"} }
func (f *failingSource) Run(ctx context.Context, _ runtime.Writer) error {
	f.mu.Lock()
	healed := f.healed
	f.mu.Unlock()
	if !healed {
		return errors.New("upstream down")
	}
	<-ctx.Done()
	return nil
}

// A loop that keeps failing is named in the node's health; once it runs
// again it is not.
func TestHealthReportNamesFailingLoops(t *testing.T) {
	st := runtime.NewState()
	rt := runtime.New(st, runtime.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BackoffInitial: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	src := &failingSource{}
	var mu sync.Mutex
	var reported []string
	require.NoError(t, rt.RegisterSource(src))
	require.NoError(t, rt.Register(&healthReport{report: func(f []string) { mu.Lock(); reported = f; mu.Unlock() }}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	failing := func(ct require.TestingT) []string {
		r, err := st.Get(controllers.TypeNodeHealth, controllers.IDSelf)
		require.NoError(ct, err)
		return r.Spec.(controllers.NodeHealthSpec).Failing
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, []string{"flaky-feed"}, failing(ct))
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(ct, []string{"flaky-feed"}, reported)
	}, 10*time.Second, time.Millisecond)

	src.mu.Lock()
	src.healed = true
	src.mu.Unlock()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Empty(ct, failing(ct))
		mu.Lock()
		defer mu.Unlock()
		assert.Empty(ct, reported)
	}, 10*time.Second, time.Millisecond)
}
