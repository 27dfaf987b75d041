package api

import (
	"context"
	"runtime"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/internal/version"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

type machineService struct{ s *Server }

// Version implements cairn.machine.v1.MachineService.
func (m *machineService) Version(context.Context, *connect.Request[machinev1.VersionRequest]) (*connect.Response[machinev1.VersionResponse], error) {
	return connect.NewResponse(&machinev1.VersionResponse{
		NodeName:  m.s.opts.NodeName,
		Version:   version.Version,
		Mode:      m.s.opts.Mode,
		Slot:      m.s.opts.Slot,
		GoVersion: runtime.Version(),
		GitCommit: version.Commit(),
		BootId:    m.s.opts.BootID,
	}), nil
}
