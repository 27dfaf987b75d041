// Package backoff is the one retry delay shared by Cairn's retry loops below
// node/ and in gossip and consensus: capped exponential, optionally
// jittered, reset by the loop that owns it. It imports nothing of Cairn's,
// so even the boot stage, which must not depend on the node it launches,
// can use it.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff is the delay before each retry of one loop: Initial, doubling
// after each consecutive failure up to Max, back to Initial after Reset.
// Initial equal to Max gives a constant delay. The zero value's delays are
// zero. A Backoff is not safe for concurrent use: it belongs to the one
// goroutine that runs the loop.
type Backoff struct {
	// Initial is the first delay, and the first again after Reset.
	Initial time.Duration
	// Max caps the delay; below Initial it counts as Initial.
	Max time.Duration
	// Jitter spreads each delay d uniformly over [d/2, d), so nodes that
	// started together do not retry in step. The sequence it spreads still
	// doubles as without jitter.
	Jitter bool
	// Rand returns a uniform value in [0, n) for jitter; nil is
	// math/rand/v2's N. Tests set it to make jittered delays exact.
	Rand func(n time.Duration) time.Duration

	cur time.Duration // the unjittered delay Next returned last; 0 after Reset
}

// Next returns the delay to wait before the next attempt and advances the
// sequence. The doubling is capped before it can overflow.
func (b *Backoff) Next() time.Duration {
	limit := max(b.Max, b.Initial)
	switch {
	case b.cur <= 0:
		b.cur = b.Initial
	case b.cur > limit/2:
		b.cur = limit
	default:
		b.cur *= 2
	}
	if !b.Jitter {
		return b.cur
	}
	half := b.cur / 2
	if half <= 0 {
		return b.cur
	}
	return half + b.random(half)
}

// Reset starts the sequence over: the next delay is Initial. Loops call it
// after a success, or after a run long enough not to count as a crash loop.
func (b *Backoff) Reset() { b.cur = 0 }

func (b *Backoff) random(n time.Duration) time.Duration {
	if b.Rand != nil {
		return b.Rand(n)
	}
	return rand.N(n)
}
