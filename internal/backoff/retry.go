package backoff

import (
	"context"
	"errors"
	"time"
)

// ErrPermanent marks an error Retry must not retry: wrap it
// (fmt.Errorf("...: %w", backoff.ErrPermanent)) to stop at once.
var ErrPermanent = errors.New("permanent failure")

// Retry calls attempt until it returns nil or an error wrapping
// ErrPermanent, or ctx ends (then it returns the last attempt's error
// joined with ctx's), waiting b.Next() between attempts; wait, if set, is
// told each failure and the delay before the next try (for a log line).
// It is for one-off steps that must succeed before anything that could
// retry them exists — a node's first certificate, before its runtime runs.
// Long-running loops belong to the runtime.
func Retry(ctx context.Context, b Backoff, attempt func(context.Context) error, wait func(err error, delay time.Duration)) error {
	for {
		err := attempt(ctx)
		if err == nil || errors.Is(err, ErrPermanent) {
			return err
		}
		delay := b.Next()
		if wait != nil {
			wait(err, delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}
