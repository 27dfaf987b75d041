package api

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
)

// errNoFirstMessage marks an upstream watch that failed before relaying
// anything, so another control plane may be tried.
var errNoFirstMessage = errors.New("watch failed before its first message")

// watchOpener opens one upstream watch at the named node.
type watchOpener[Req, Res any] func(ctx context.Context, node string, out *connect.Request[Req]) (*connect.ServerStreamForClient[Res], error)

// proxyWatch relays a watch from a control plane (workers hold no
// replica): the known leader first, then any other alive control plane,
// since every replica serves watches. A control plane that does not answer
// the first message is passed over; once relaying, an upstream failure ends
// the watch, and the watcher resumes from its last revision (the HTTP/2
// pings of Server.peers notice a silent upstream within seconds).
func proxyWatch[Req, Res any](ctx context.Context, s *Server, req *connect.Request[Req], stream *connect.ServerStream[Res], open watchOpener[Req, Res]) error {
	var errs []error
	tried := map[string]bool{s.opts.NodeName: true}
	for _, name := range s.leaderCandidates() {
		if tried[name] {
			continue
		}
		tried[name] = true
		err := relayWatch(ctx, name, req, stream, open)
		if !errors.Is(err, errNoFirstMessage) {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w: no control plane serves the watch: %w", ErrNoLeader, errors.Join(errs...)))
}

// relayWatch relays one upstream watch from name, with the caller's
// certificate so that the upstream checks the caller's role.
func relayWatch[Req, Res any](ctx context.Context, name string, req *connect.Request[Req], stream *connect.ServerStream[Res], open watchOpener[Req, Res]) error {
	out := connect.NewRequest(req.Msg)
	out.Header().Set(HeaderCallerCert, callerFrom(ctx).header())
	up, err := open(ctx, name, out)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoFirstMessage, err)
	}
	defer up.Close()
	relayed := false
	for up.Receive() {
		relayed = true
		if err := stream.Send(up.Msg()); err != nil {
			return err
		}
	}
	err = up.Err()
	switch {
	case err != nil && !relayed && ctx.Err() == nil && retryable(err):
		return fmt.Errorf("%w: %w", errNoFirstMessage, err)
	case ctx.Err() != nil:
		return nil
	}
	return err
}
