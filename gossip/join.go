package gossip

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-project/cairn/internal/backoff"
)

// Join joins the cluster through seeds ("host:port", or "host" for the
// configured port), retrying with capped exponential backoff until one
// attempt reaches any seed, a peer joins this node first, or ctx ends
// (ErrJoinFailed). Seeds naming this node are skipped; with none left Join
// returns nil at once: this node is the first, and the others join it.
//
// An attempt already under way is not interrupted by ctx; it lasts at most
// Config.StreamTimeout per seed. If a live member already holds this node's
// name, Join shuts the node down and returns ErrNameConflict, since retrying
// cannot help and staying would make the rightful owner look contested.
func (n *Node) Join(ctx context.Context, seeds []string) error {
	seeds = n.otherSeeds(seeds)
	if len(seeds) == 0 {
		n.log.Info("no seed besides this node, waiting to be joined")
		return nil
	}
	// Jitter spreads the retries of nodes that started together.
	bo := backoff.Backoff{Initial: n.cfg.JoinBackoffMin, Max: n.cfg.JoinBackoffMax, Jitter: true}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrJoinFailed, err)
		}
		contacted, err := n.joinOnce(seeds)
		switch {
		case err == nil:
			n.log.Info("joined cluster", "seeds_contacted", contacted, "attempt", attempt)
			return nil
		case errors.Is(err, ErrNameConflict), errors.Is(err, ErrClosed):
			return err
		case n.joinedByPeer():
			n.log.Info("joined cluster by a peer", "attempt", attempt)
			return nil
		}
		wait := bo.Next()
		n.log.Warn("join attempt failed", "attempt", attempt, "seeds", seeds, "retry_in", wait, "err", err)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("%w after %d attempts: %w; last attempt: %w", ErrJoinFailed, attempt, ctx.Err(), err)
		case <-timer.C:
		}
	}
}

// joinOnce makes one attempt and records it in the status.
func (n *Node) joinOnce(seeds []string) (int, error) {
	contacted, conflict, err := n.tryJoin(seeds)
	if conflict {
		n.refuse()
		err = fmt.Errorf("join %v as %q: %w", seeds, n.cfg.Name, ErrNameConflict)
	}
	n.status.update(func(s *Status) {
		s.JoinAttempts++
		if err != nil {
			s.LastJoinError = err.Error()
		} else {
			s.Joined = true
		}
	})
	return contacted, err
}

// tryJoin runs memberlist's join and reports whether the exchange revealed
// that a live member holds this node's name (memberlist merges the seed's
// state synchronously, so its conflict callback has run by then).
func (n *Node) tryJoin(seeds []string) (contacted int, conflict bool, err error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if err := n.usableLocked(); err != nil {
		return 0, false, fmt.Errorf("join: %w", err)
	}
	before := n.status.localConflictCount()
	contacted, err = n.ml.Join(seeds)
	switch {
	case err == nil:
	case strings.Contains(err.Error(), "no installed keys could decrypt"):
		err = fmt.Errorf("join %v: %w: %w", seeds, ErrKeyMismatch, err)
	default:
		err = fmt.Errorf("join %v: %w", seeds, err)
	}
	return contacted, n.status.localConflictCount() > before, err
}

// refuse shuts memberlist down after a lost name conflict, without a leave
// message, which would carry the contested name and evict its owner.
func (n *Node) refuse() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed, n.refused = true, true
	if err := n.ml.Shutdown(); err != nil {
		n.log.Warn("shut down after name conflict", "err", err)
	}
	n.log.Error("gossip stopped: name held by another node", "name", n.cfg.Name)
}

// joinedByPeer reports whether another member is alive in this node's view,
// which happens when a peer joined this node while it was retrying.
func (n *Node) joinedByPeer() bool {
	return n.table.countAlive() > 1
}

// otherSeeds drops duplicates and seeds that name this node itself, which
// memberlist would happily "join".
func (n *Node) otherSeeds(seeds []string) []string {
	self, err := netip.ParseAddrPort(n.Addr())
	if err != nil {
		return seeds
	}
	seen := make(map[string]bool, len(seeds))
	var out []string
	for _, s := range seeds {
		if seen[s] || isSelf(s, self) {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// isSelf reports whether seed is self's address, with self's port implied
// when the seed gives none (memberlist's own default).
func isSelf(seed string, self netip.AddrPort) bool {
	host, portStr, err := net.SplitHostPort(seed)
	port := int(self.Port())
	if err != nil {
		host = seed
	} else if port, err = strconv.Atoi(portStr); err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap() == self.Addr() && port == int(self.Port())
}
