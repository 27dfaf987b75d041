package formation

import (
	"errors"
	"sync"

	"github.com/cairn-project/cairn/gossip"
)

// gossipRef is the agent's current gossip member, which the join loop may
// replace after a name conflict. It merges the hints of every member it has
// held into one channel, so consumers keep one subscription.
type gossipRef struct {
	mu    sync.Mutex
	n     *gossip.Node
	stop  chan struct{} // stops the forwarder of n's hints
	done  chan struct{}
	hints chan struct{}

	subMu sync.Mutex
	subs  map[chan struct{}]struct{} // Subscribe's, beside hints
}

func newGossipRef(n *gossip.Node) *gossipRef {
	r := &gossipRef{hints: make(chan struct{}, 1)}
	r.attach(n)
	return r
}

func (r *gossipRef) attach(n *gossip.Node) {
	r.n, r.stop, r.done = n, make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-n.Hints():
				r.forward()
			}
		}
	}(r.stop, r.done)
}

// forward passes one hint of the member on to Hints and every subscriber.
func (r *gossipRef) forward() {
	signal(r.hints)
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for ch := range r.subs {
		signal(ch)
	}
}

// signal sends on ch without blocking (a pending value stands for any
// number of changes).
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// subscribe returns a channel of its own that receives a value after the
// membership view changes, as Hints does for the formation's consumers,
// and the function that ends the subscription.
func (r *gossipRef) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if r.subs == nil {
		r.subs = map[chan struct{}]struct{}{}
	}
	r.subs[ch] = struct{}{}
	return ch, func() {
		r.subMu.Lock()
		defer r.subMu.Unlock()
		delete(r.subs, ch)
	}
}

func (r *gossipRef) detach() {
	close(r.stop)
	<-r.done
}

func (r *gossipRef) current() *gossip.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// swap replaces the member; the old one has already shut itself down.
func (r *gossipRef) swap(n *gossip.Node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.detach()
	old := r.n
	r.attach(n)
	if err := old.Close(); err != nil && !errors.Is(err, gossip.ErrClosed) {
		_ = err // the old member is gone either way
	}
}

func (r *gossipRef) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.detach()
	err := r.n.Close()
	if errors.Is(err, gossip.ErrClosed) {
		return nil
	}
	return err
}

// Members and Hints make gossipRef a membership.
func (r *gossipRef) Members() []gossip.Member { return r.current().Members() }
func (r *gossipRef) Hints() <-chan struct{}   { return r.hints }
