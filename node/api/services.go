package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairn-project/cairn/node/machine/supervisor"
	servicev1 "github.com/cairn-project/cairn/proto/gen/cairn/service/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
)

// maxLogBatch bounds how many lines one LogsResponse carries, so a long
// tail is streamed in pieces rather than built as one large message.
const maxLogBatch = 500

// ServiceHandlerOptions are what NewServiceHandler serves besides the
// supervisor.
type ServiceHandlerOptions struct {
	// NodeLog, when set, is served as the service NodeLogName.
	NodeLog NodeLog
	// Logger receives a debug record per log stream; nil discards them.
	Logger *slog.Logger
}

// NewServiceHandler returns the route and handler of
// cairn.service.v1.ServiceService over s: the node's supervised processes,
// their logs, and restarts, and the node itself with its own log when
// o.NodeLog is set. Services themselves are defined by the node, never
// through this API. opts are passed to the generated handler (the server's
// compression settings, for instance).
func NewServiceHandler(s *supervisor.Supervisor, o ServiceHandlerOptions, opts ...connect.HandlerOption) (string, http.Handler) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return servicev1connect.NewServiceServiceHandler(&serviceService{sup: s, nodeLog: o.NodeLog, log: log, started: time.Now()}, opts...)
}

type serviceService struct {
	sup     *supervisor.Supervisor
	nodeLog NodeLog // nil: the node itself is not listed
	log     *slog.Logger
	started time.Time // since when the node itself is running
}

// List implements cairn.service.v1.ServiceService.
func (s *serviceService) List(context.Context, *connect.Request[servicev1.ListRequest]) (*connect.Response[servicev1.ListResponse], error) {
	list := s.sup.List()
	out := &servicev1.ListResponse{Services: make([]*servicev1.Service, 0, len(list)+1)}
	for _, st := range list {
		out.Services = append(out.Services, serviceToProto(st))
	}
	if s.nodeLog != nil {
		out.Services = withNodeService(out.Services, s.started)
	}
	return connect.NewResponse(out), nil
}

// Restart implements cairn.service.v1.ServiceService.
func (s *serviceService) Restart(_ context.Context, req *connect.Request[servicev1.RestartRequest]) (*connect.Response[servicev1.RestartResponse], error) {
	if req.Msg.GetName() == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("name is required"))
	}
	if req.Msg.GetName() == NodeLogName && s.nodeLog != nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("restart %s: %w", NodeLogName, ErrNodeItself))
	}
	if err := s.sup.Restart(req.Msg.GetName()); err != nil {
		return nil, serviceError(err)
	}
	return connect.NewResponse(&servicev1.RestartResponse{}), nil
}

// Logs implements cairn.service.v1.ServiceService. When following it
// first flushes the response headers, so a client learns that the stream is
// established even if no line comes for a while; lines that arrive
// together go out as one batch.
func (s *serviceService) Logs(ctx context.Context, req *connect.Request[servicev1.LogsRequest], stream *connect.ServerStream[servicev1.LogsResponse]) error {
	if req.Msg.GetName() == "" {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("name is required"))
	}
	tail := -1
	if req.Msg.TailLines != nil && req.Msg.GetTailLines() >= 0 {
		tail = int(req.Msg.GetTailLines())
	}
	// Logged before the stream opens, so at debug a read of the node's own
	// log shows itself: proof that the level took effect.
	s.log.Debug("log stream opened", "name", req.Msg.GetName(), "follow", req.Msg.GetFollow(), "tail", tail,
		"caller_roles", callerFrom(ctx).roles)
	lines, cancel, err := s.lines(req.Msg.GetName(), req.Msg.GetFollow(), tail)
	if err != nil {
		return err
	}
	defer cancel()
	if req.Msg.GetFollow() {
		if err := stream.Send(nil); err != nil {
			return err
		}
	}
	for {
		batch, open := nextBatch(ctx, lines)
		if len(batch) > 0 {
			if err := stream.Send(&servicev1.LogsResponse{Lines: batch}); err != nil {
				return err
			}
		}
		if !open {
			return serviceError(ctx.Err())
		}
	}
}

// lines opens the named log: the node's own for NodeLogName, else a
// service's. Not finding it names the logs there are.
func (s *serviceService) lines(name string, follow bool, tail int) (<-chan string, func(), error) {
	if name == NodeLogName && s.nodeLog != nil {
		lines, cancel := s.nodeLog.Lines(tail, follow)
		return lines, cancel, nil
	}
	lines, cancel, err := s.sup.Logs(name, follow, tail)
	if errors.Is(err, supervisor.ErrNotFound) {
		return nil, nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("%w (logs on this node: %s)", err, s.logNames()))
	}
	if err != nil {
		return nil, nil, serviceError(err)
	}
	return lines, cancel, nil
}

// nextBatch waits for one line, then takes whatever else is ready, up to
// maxLogBatch lines. open is false once lines is closed or ctx ended.
func nextBatch(ctx context.Context, lines <-chan string) (batch []string, open bool) {
	select {
	case l, ok := <-lines:
		if !ok {
			return nil, false
		}
		batch = append(batch, l)
	case <-ctx.Done():
		return nil, false
	}
	for len(batch) < maxLogBatch {
		select {
		case l, ok := <-lines:
			if !ok {
				return batch, false
			}
			batch = append(batch, l)
		default:
			return batch, true
		}
	}
	return batch, true
}

func serviceToProto(st supervisor.Status) *servicev1.Service {
	return &servicev1.Service{
		Name:         st.Name,
		State:        stateToProto(st.State),
		Pid:          int32(st.PID),
		Restarts:     uint32(st.Restarts),
		LastExitCode: int32(st.LastExitCode),
		Health:       st.Health.String(),
		Message:      st.Message,
		Since:        timestamppb.New(st.Since),
	}
}

func stateToProto(s supervisor.State) servicev1.ServiceState {
	switch s {
	case supervisor.StateWaiting:
		return servicev1.ServiceState_SERVICE_STATE_WAITING
	case supervisor.StateStarting:
		return servicev1.ServiceState_SERVICE_STATE_STARTING
	case supervisor.StateRunning:
		return servicev1.ServiceState_SERVICE_STATE_RUNNING
	case supervisor.StateBackoff:
		return servicev1.ServiceState_SERVICE_STATE_BACKOFF
	case supervisor.StateFinished:
		return servicev1.ServiceState_SERVICE_STATE_FINISHED
	case supervisor.StateFailed:
		return servicev1.ServiceState_SERVICE_STATE_FAILED
	case supervisor.StateStopped:
		return servicev1.ServiceState_SERVICE_STATE_STOPPED
	}
	return servicev1.ServiceState_SERVICE_STATE_UNSPECIFIED
}

// serviceError maps supervisor errors to Connect codes; the rest falls to
// the package-wide mapping.
func serviceError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, supervisor.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, supervisor.ErrNotRunning):
		return connect.NewError(connect.CodeUnavailable, err)
	}
	return toConnect(err)
}
