package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/internal/backoff"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// HeaderLeader is set on a refusal of a forwarded call ("not the leader"):
// the refusing control plane's own view of who leads, for the forwarder to
// try next.
const HeaderLeader = "Cairn-Leader"

// Forwarding timings (Options.LeaderHold overrides the hold).
const (
	// defaultLeaderHold is how long a forwarded call waits for a leader to
	// be found (an election, a paused leader replaced) before it fails:
	// Consul's RPCHoldTimeout, for the same reason.
	defaultLeaderHold = 5 * time.Second
	// leaderPoll is how often an attempt checks whether a newer leader is
	// known, and the first pause between rounds with no leader.
	leaderPoll = 50 * time.Millisecond
)

// forward sends a call that needs the leader to it and returns its answer.
//
// Which node leads is a hint: the local Raft view on a control plane, the
// control planes' gossip metadata on a worker (the newest term wins), and
// either may be stale. So forward tries the best guess first and follows
// what the refusing node says (HeaderLeader), then every other alive
// control plane, and keeps trying — with growing pauses — for LeaderHold
// while no leader answers. An attempt is abandoned when a newer leader
// becomes known (the target was paused or cut off and replaced), instead of
// waiting for a node that may never answer.
//
// Retrying is safe for every forwarded call: reads have no effect, and
// ApplyConfig always carries a request ID (set before forwarding if the
// client sent none), so the store applies it at most once and a retry of a
// write that did happen gets that write's answer (cfgstore.Apply).
//
// A call that was itself forwarded to this node is refused rather than
// bounced on, with this node's leader hint, so stale hints cannot loop.
func forward[Req, Res any](ctx context.Context, s *Server, req *connect.Request[Req],
	call func(clusterv1connect.ClusterServiceClient, context.Context, *connect.Request[Req]) (*connect.Response[Res], error),
) (*connect.Response[Res], error) {
	return forwardVia(ctx, s, req, s.clusterClient, call)
}

// forwardVia is forward for a call of any service: dial returns that
// service's client for a named node (forward's is the cluster service).
func forwardVia[C, Req, Res any](ctx context.Context, s *Server, req *connect.Request[Req],
	dial func(name string) (C, error),
	call func(C, context.Context, *connect.Request[Req]) (*connect.Response[Res], error),
) (*connect.Response[Res], error) {
	if from := req.Header().Get(HeaderForwarded); from != "" {
		return nil, s.refuseForwarded(from)
	}
	hold := time.Now().Add(s.leaderHold())
	var res *connect.Response[Res]
	attempt := func(ctx context.Context) error {
		r, err := forwardRound(ctx, s, req, dial, call)
		switch {
		case err == nil:
			res = r
			return nil
		case !retryable(err):
			return fmt.Errorf("%w: %w", backoff.ErrPermanent, err)
		case !time.Now().Before(hold):
			held := connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w after %s: %w", ErrNoLeader, s.leaderHold(), err))
			return fmt.Errorf("%w: %w", backoff.ErrPermanent, held)
		}
		return err
	}
	// Rounds are paced by the shared backoff: 50 ms doubling to 500 ms.
	err := backoff.Retry(ctx, backoff.Backoff{Initial: leaderPoll, Max: 500 * time.Millisecond}, attempt, nil)
	if err == nil {
		return res, nil
	}
	// The last answer: not retryable, the hold ran out, or ctx ended.
	var ce *connect.Error
	if errors.As(err, &ce) {
		return nil, ce
	}
	return nil, err
}

// forwardRound tries each candidate once, best first, following refusals'
// leader hints. It returns the first answer, a non-retryable error at once,
// or the last retryable one.
func forwardRound[C, Req, Res any](ctx context.Context, s *Server, req *connect.Request[Req],
	dial func(name string) (C, error),
	call func(C, context.Context, *connect.Request[Req]) (*connect.Response[Res], error),
) (*connect.Response[Res], error) {
	queue := s.leaderCandidates()
	if len(queue) == 0 {
		return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w: no control plane is alive in gossip", ErrNoLeader))
	}
	tried := map[string]bool{s.opts.NodeName: true}
	var errs []error
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if tried[name] {
			continue
		}
		tried[name] = true
		res, err := forwardTo(ctx, s, name, req, dial, call)
		if err == nil {
			return res, nil
		}
		if !retryable(err) || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
		if hint := leaderHint(err); hint != "" && !tried[hint] {
			queue = append([]string{hint}, queue...)
		}
	}
	return nil, connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w: %w", ErrNoLeader, errors.Join(errs...)))
}

// forwardTo makes one attempt at name, abandoned when a leader other than
// name becomes known.
func forwardTo[C, Req, Res any](ctx context.Context, s *Server, name string, req *connect.Request[Req],
	dial func(name string) (C, error),
	call func(C, context.Context, *connect.Request[Req]) (*connect.Response[Res], error),
) (*connect.Response[Res], error) {
	c, err := dial(name)
	if err != nil {
		return nil, connect.NewError(connect.CodeUnavailable, err)
	}
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go s.abandonOnNewLeader(actx, cancel, name)
	out := connect.NewRequest(req.Msg)
	out.Header().Set(HeaderForwarded, s.opts.NodeName)
	out.Header().Set(HeaderCallerCert, callerFrom(ctx).header())
	res, err := call(c, actx, out)
	s.unreachable.record(name, err == nil || ctx.Err() != nil || !unreachableErr(err))
	if err != nil && ctx.Err() == nil {
		if cause := context.Cause(actx); errors.Is(cause, errNewerLeader) {
			return nil, connect.NewError(connect.CodeUnavailable, cause)
		}
	}
	return res, err
}

// unreachableErr reports whether an attempt failed for want of an answer
// (the node is down, paused or cut off) rather than with one.
func unreachableErr(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeUnknown, connect.CodeCanceled:
		return leaderHint(err) == "" && !errors.Is(err, ErrNoLeader)
	}
	return false
}

// unreachable remembers which nodes did not answer an attempt lately, so
// the next forward tries them last: a paused leader that gossip still names
// would otherwise be the first candidate of every call until its hint is
// replaced, and a new connection to it hangs in the TLS handshake.
type unreachable struct {
	mu    sync.Mutex
	since map[string]time.Time
}

// unreachableFor is how long a node that did not answer is tried last.
const unreachableFor = 5 * time.Second

func (u *unreachable) record(name string, answered bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if answered {
		delete(u.since, name)
		return
	}
	if u.since == nil {
		u.since = map[string]time.Time{}
	}
	u.since[name] = time.Now()
}

// last moves the nodes that did not answer lately to the end of names,
// keeping the order otherwise.
func (u *unreachable) last(names []string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var first, later []string
	for _, n := range names {
		if t, ok := u.since[n]; ok && time.Since(t) < unreachableFor {
			later = append(later, n)
			continue
		}
		first = append(first, n)
	}
	return append(first, later...)
}

// errNewerLeader is the cause of an attempt abandoned for a newer leader.
var errNewerLeader = errors.New("abandoned: another node leads now")

// abandonOnNewLeader cancels an attempt at target once the best leader
// candidate is another node, checking every leaderPoll until ctx ends.
func (s *Server) abandonOnNewLeader(ctx context.Context, cancel context.CancelCauseFunc, target string) {
	tick := time.NewTicker(leaderPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if best := s.knownLeader(); best != "" && best != target {
			cancel(fmt.Errorf("%w: %s, not %s", errNewerLeader, best, target))
			return
		}
	}
}

// retryable reports whether a forwarded call may be tried elsewhere: the
// target was unreachable, refused (not the leader, no leader yet, config
// not seeded), or lost leadership with the outcome unknown (safe to retry
// with the same request ID). Every other answer is the answer.
func retryable(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeUnknown, connect.CodeCanceled:
		return true
	}
	return false
}

// leaderHint reads HeaderLeader from a refusal.
func leaderHint(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Meta().Get(HeaderLeader)
	}
	return ""
}

// refuseForwarded answers a forwarded call this node cannot serve, naming
// the leader it knows, if any.
func (s *Server) refuseForwarded(from string) *connect.Error {
	leader := s.knownLeader()
	err := connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w: forwarded by %s, but %s is not the leader either", ErrNoLeader, from, s.opts.NodeName))
	if leader != "" && leader != s.opts.NodeName {
		err = connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w: forwarded by %s, but %s is not the leader; %s leads", ErrNoLeader, from, s.opts.NodeName, leader))
		err.Meta().Set(HeaderLeader, leader)
	}
	return err
}

// knownLeader is the best current guess of the leader: this control
// plane's Raft view, or on a worker the newest control-plane hint.
func (s *Server) knownLeader() string {
	if st := s.replica; s.opts.ControlPlane {
		id, _ := st.Leader()
		return formation.NodeName(id)
	}
	if hints := s.leaderHints(); len(hints) > 0 {
		return hints[0]
	}
	return ""
}

// leaderCandidates lists the nodes a leader-only call may be sent to, best
// first: the known leader, then the other gossip hints by term, then every
// other alive control plane (each leads, or names the leader when it
// refuses).
func (s *Server) leaderCandidates() []string {
	var out []string
	if st := s.replica; s.opts.ControlPlane {
		if id, _ := st.Leader(); id != "" {
			out = append(out, formation.NodeName(id))
		}
	}
	out = append(out, s.leaderHints()...)
	for _, m := range s.members.Members() {
		if isLiveControlPlane(m) && m.Name != s.opts.NodeName {
			out = append(out, m.Name)
		}
	}
	return s.unreachable.last(out)
}

// leaderHints returns the leaders that alive control planes advertise,
// newest term first, skipping hints that name a node not alive in gossip
// (a leader that died and was not replaced yet).
func (s *Server) leaderHints() []string {
	members := s.members.Members()
	live := map[string]bool{}
	for _, m := range members {
		if isLiveControlPlane(m) {
			live[m.Name] = true
		}
	}
	type hint struct {
		name string
		term uint64
	}
	var hints []hint
	for _, m := range members {
		if live[m.Name] && m.Meta.Leader != "" && live[m.Meta.Leader] {
			hints = append(hints, hint{m.Meta.Leader, m.Meta.LeaderTerm})
		}
	}
	slices.SortStableFunc(hints, func(a, b hint) int { return cmp.Compare(b.term, a.term) })
	var out []string
	for _, h := range hints {
		if !slices.Contains(out, h.name) {
			out = append(out, h.name)
		}
	}
	return out
}

func isLiveControlPlane(m gossip.Member) bool {
	return m.Meta.Role == gossip.RoleControlPlane && (m.State == gossip.StateAlive || m.State == gossip.StateSuspect)
}

// clusterClient returns a client for name's cluster service.
func (s *Server) clusterClient(name string) (clusterv1connect.ClusterServiceClient, error) {
	addr, err := s.memberAPI(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[addr]
	if !ok {
		c = clusterv1connect.NewClusterServiceClient(&http.Client{Transport: s.peers}, "https://"+addr, connect.WithGRPC())
		s.clients[addr] = c
	}
	return c, nil
}

func (s *Server) leaderHold() time.Duration {
	if s.opts.LeaderHold > 0 {
		return s.opts.LeaderHold
	}
	return defaultLeaderHold
}
