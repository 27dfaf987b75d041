package formation

import (
	"slices"
	"strings"
)

// healthMaxLen bounds Meta.Health: gossip metadata must stay under
// gossip.MetaMaxSize (512 bytes) with every other field, so the summary is
// short and the details are in the node's API and log.
const healthMaxLen = 64

// Degrade records that part of this node stopped working (a background
// loop that ended with an error); it is named in the node's gossip health
// ("degraded: …") until the process ends.
func (a *Agent) Degrade(what string) {
	a.mu.Lock()
	if !slices.Contains(a.degraded, what) {
		a.degraded = append(a.degraded, what)
	}
	a.mu.Unlock()
	a.kickMeta()
}

// SetFailing replaces the list of the node's controllers and sources whose
// last run failed (the runtime retries them); they are named in its gossip
// health after what Degrade recorded.
func (a *Agent) SetFailing(names []string) {
	a.mu.Lock()
	same := slices.Equal(a.failing, names)
	a.failing = slices.Clone(names)
	a.mu.Unlock()
	if !same {
		a.kickMeta()
	}
}

// health is this node's summary for gossip: "ok", or "degraded: " and what
// is not working — a stopped Raft store first (the node is about to stop,
// node.ErrStorageFault), then whatever Degrade recorded.
func (a *Agent) health() string {
	var problems []string
	if a.Store != nil {
		select {
		case <-a.Store.Done():
			problems = append(problems, "raft store stopped")
		default:
		}
	}
	a.mu.Lock()
	problems = append(problems, a.degraded...)
	for _, f := range a.failing {
		problems = append(problems, f+" failing")
	}
	a.mu.Unlock()
	if len(problems) == 0 {
		return "ok"
	}
	h := "degraded: " + strings.Join(problems, ", ")
	if len(h) > healthMaxLen {
		h = h[:healthMaxLen-3] + "..."
	}
	return h
}
