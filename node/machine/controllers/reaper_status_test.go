package controllers

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/runtime"
)

// countingReaper is a stateful in-memory ReapObserver.
type countingReaper struct {
	mu      sync.Mutex
	n       uint64
	changed chan struct{}
}

func (r *countingReaper) Reaped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *countingReaper) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

func (r *countingReaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	close(r.changed)
	r.changed = make(chan struct{})
}

// ReaperStatus follows the reaper's count as it grows.
func TestReaperStatusFollowsTheCount(t *testing.T) {
	st := runtime.NewState()
	reaper := &countingReaper{changed: make(chan struct{})}
	rt := runtime.New(st, runtime.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, rt.RegisterSource(&ReaperStatus{Reaper: reaper}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	reaped := func(want uint64) {
		t.Helper()
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			s, ok := specOf[ReaperStatusSpec](st, TypeReaperStatus, IDMachine)
			require.True(ct, ok)
			assert.Equal(ct, want, s.Reaped)
		}, 5*time.Second, time.Millisecond)
	}
	reaped(0)
	for range 3 {
		reaper.reap()
	}
	reaped(3)
	reaper.reap()
	reaped(4)
}
