package formation

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every subscriber gets its own wake-up for a change, beside the
// formation's Hints; an ended subscription gets none.
func TestGossipRefSubscribers(t *testing.T) {
	r := &gossipRef{hints: make(chan struct{}, 1)}
	a, endA := r.subscribe()
	b, endB := r.subscribe()
	defer endB()
	woken := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	r.forward()
	r.forward() // two changes, one pending value each
	assert.True(t, woken(r.hints))
	assert.True(t, woken(a))
	assert.True(t, woken(b))
	assert.False(t, woken(a), "changes collapse into one value")
	endA()
	r.forward()
	assert.True(t, woken(b))
	assert.False(t, woken(a), "an ended subscription is not woken")
	assert.Len(t, r.subs, 1)
}
