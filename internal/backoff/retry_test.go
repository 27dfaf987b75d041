package backoff

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryUntilSuccessPermanentOrDone(t *testing.T) {
	calls := 0
	var delays []time.Duration
	b := Backoff{Initial: time.Microsecond, Max: 4 * time.Microsecond}
	err := Retry(context.Background(), b, func(context.Context) error {
		calls++
		if calls < 4 {
			return errors.New("not yet")
		}
		return nil
	}, func(_ error, d time.Duration) { delays = append(delays, d) })
	require.NoError(t, err)
	assert.Equal(t, 4, calls)
	assert.Equal(t, []time.Duration{time.Microsecond, 2 * time.Microsecond, 4 * time.Microsecond}, delays)

	calls = 0
	err = Retry(context.Background(), b, func(context.Context) error {
		calls++
		return fmt.Errorf("refused: %w", ErrPermanent)
	}, nil)
	require.ErrorIs(t, err, ErrPermanent)
	assert.Equal(t, 1, calls, "a permanent failure is not retried")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Retry(ctx, Backoff{Initial: time.Hour}, func(context.Context) error { return errors.New("down") }, nil)
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorContains(t, err, "down")
}
