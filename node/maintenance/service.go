package maintenance

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	maintenancev1 "github.com/cairn-project/cairn/proto/gen/cairn/maintenance/v1"
)

// service implements cairn.maintenance.v1.MaintenanceService.
type service struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	result *accepted // set once, by the first call accepted
}

// Version implements MaintenanceService.
func (s *service) Version(context.Context, *connect.Request[maintenancev1.VersionRequest]) (*connect.Response[maintenancev1.VersionResponse], error) {
	return connect.NewResponse(&maintenancev1.VersionResponse{
		Version: version.Version, Mode: s.opts.Mode, NodeName: s.opts.NodeName,
		Hostname: s.opts.Hostname, HardwareAddresses: s.opts.MACs,
		GoVersion: runtime.Version(), GitCommit: version.Commit(),
	}), nil
}

// ApplyConfig implements MaintenanceService: validate, find this machine's
// entry, and take the document, in that order, so a refused call leaves
// the machine as it was.
func (s *service) ApplyConfig(_ context.Context, req *connect.Request[maintenancev1.ApplyConfigRequest]) (*connect.Response[maintenancev1.ApplyConfigResponse], error) {
	doc := []byte(req.Msg.GetConfig())
	if err := config.CheckDocument(doc); err != nil {
		return nil, toConnect(err)
	}
	cfg, err := config.Load(doc)
	if err != nil {
		return nil, toConnect(err)
	}
	name := req.Msg.GetNodeName()
	if name == "" {
		name = s.opts.NodeName
	}
	self, err := cfg.NodeFor(name, s.opts.MACs, s.opts.Hostname)
	if err != nil {
		return nil, toConnect(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.result != nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, ErrAlreadyConfigured)
	}
	s.result = &accepted{doc: doc, name: self.MatchName()}
	s.log.Info("configuration accepted", "node", self.Name, "role", self.Role, "peer", req.Peer().Addr)
	return connect.NewResponse(&maintenancev1.ApplyConfigResponse{NodeName: self.Name, Role: string(self.Role)}), nil
}

// taken returns the accepted configuration, if any.
func (s *service) taken() (accepted, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.result == nil {
		return accepted{}, false
	}
	return *s.result, true
}

// toConnect maps the errors ApplyConfig meets to codes: what
// ClusterService.ApplyConfig answers for an invalid document (the same
// ValidationErrors detail, so cairnctl prints the same lines), and
// failed_precondition when no entry, or several, fit this machine.
func toConnect(err error) error {
	var ve *config.ValidationError
	switch {
	case errors.As(err, &ve):
		out := connect.NewError(connect.CodeInvalidArgument, err)
		detail := &clusterv1.ValidationErrors{}
		for _, v := range ve.Violations {
			detail.Violations = append(detail.Violations, &clusterv1.FieldViolation{Field: v.Field, Description: v.Message})
		}
		if d, derr := connect.NewErrorDetail(detail); derr == nil {
			out.AddDetail(d)
		}
		return out
	case errors.Is(err, config.ErrTooLarge):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, config.ErrNoMatch), errors.Is(err, config.ErrAmbiguousMatch):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, config.ErrInvalid), errors.Is(err, config.ErrEmptyDocument), errors.Is(err, config.ErrNotText):
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}
