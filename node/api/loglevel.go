package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"

	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// GetLogLevel implements cairn.machine.v1.MachineService.
func (m *machineService) GetLogLevel(context.Context, *connect.Request[machinev1.GetLogLevelRequest]) (*connect.Response[machinev1.GetLogLevelResponse], error) {
	nl := m.s.opts.NodeLog
	if nl == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, ErrNoNodeLog)
	}
	return connect.NewResponse(&machinev1.GetLogLevelResponse{
		NodeName: m.s.opts.NodeName, Level: levelToProto(nl.Level()),
	}), nil
}

// SetLogLevel implements cairn.machine.v1.MachineService. The change is
// logged after it takes effect, so raising the level past info hides the
// record of it; stderr of the moment keeps the lowering ones.
func (m *machineService) SetLogLevel(ctx context.Context, req *connect.Request[machinev1.SetLogLevelRequest]) (*connect.Response[machinev1.SetLogLevelResponse], error) {
	nl := m.s.opts.NodeLog
	if nl == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, ErrNoNodeLog)
	}
	level, err := levelFromProto(req.Msg.GetLevel())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	previous := nl.SetLevel(level)
	m.s.log.Info("log level changed", "from", previous, "to", level, "caller_roles", callerFrom(ctx).roles)
	return connect.NewResponse(&machinev1.SetLogLevelResponse{
		NodeName: m.s.opts.NodeName, Level: levelToProto(level), PreviousLevel: levelToProto(previous),
	}), nil
}

// levelToProto names l by the named level at or below it.
func levelToProto(l slog.Level) machinev1.LogLevel {
	switch {
	case l < slog.LevelInfo:
		return machinev1.LogLevel_LOG_LEVEL_DEBUG
	case l < slog.LevelWarn:
		return machinev1.LogLevel_LOG_LEVEL_INFO
	case l < slog.LevelError:
		return machinev1.LogLevel_LOG_LEVEL_WARN
	}
	return machinev1.LogLevel_LOG_LEVEL_ERROR
}

var errNoLevel = errors.New("level is required: debug, info, warn or error")

func levelFromProto(l machinev1.LogLevel) (slog.Level, error) {
	switch l {
	case machinev1.LogLevel_LOG_LEVEL_DEBUG:
		return slog.LevelDebug, nil
	case machinev1.LogLevel_LOG_LEVEL_INFO:
		return slog.LevelInfo, nil
	case machinev1.LogLevel_LOG_LEVEL_WARN:
		return slog.LevelWarn, nil
	case machinev1.LogLevel_LOG_LEVEL_ERROR:
		return slog.LevelError, nil
	case machinev1.LogLevel_LOG_LEVEL_UNSPECIFIED:
		return 0, errNoLevel
	}
	return 0, fmt.Errorf("%w (got %v)", errNoLevel, l)
}
