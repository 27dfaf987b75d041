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

	kubernetesv1 "github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
)

// KubernetesOps is the Kubernetes access a control plane hands out through
// cairn.kubernetes.v1. It may fail with ErrKubernetesDisabled (Kubernetes
// was turned off since the server was built) and ErrKubeconfigTTL (a ttl it
// will not sign for); a *connect.Error keeps its code, and other errors map
// as toConnect maps them.
type KubernetesOps interface {
	// AdminKubeconfig mints a cluster-admin client certificate valid for
	// ttl and returns it as a whole kubeconfig (internal/kubeconfig.Build),
	// with the API server URL it points at and when the certificate
	// expires.
	AdminKubeconfig(ctx context.Context, ttl time.Duration) (kubeconfig []byte, server string, expires time.Time, err error)
}

// defaultKubeconfigTTL is the certificate lifetime of a Kubeconfig call
// without a ttl: a year, as talosctl's admin kubeconfig.
const defaultKubeconfigTTL = 365 * 24 * time.Hour

// errNoKubernetes is what a node without KubernetesOps answers.
var errNoKubernetes = errors.New("this node hands out no kubeconfig: ask a control plane (cairnctl -n CONTROLPLANE kubeconfig), or Kubernetes is disabled in the cluster config")

// NewKubernetesHandler returns the route and handler of
// cairn.kubernetes.v1.KubernetesService over ops; nil ops (a worker, or a
// cluster without Kubernetes) answers failed_precondition. log records
// every kubeconfig handed out; nil discards. Served alone like this, it
// refuses KubeletCertificate (failed_precondition), which needs a whole
// Server (New).
func NewKubernetesHandler(ops KubernetesOps, log *slog.Logger, opts ...connect.HandlerOption) (string, http.Handler) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return kubernetesv1connect.NewKubernetesServiceHandler(&kubernetesService{ops: ops, log: log}, opts...)
}

type kubernetesService struct {
	ops KubernetesOps
	log *slog.Logger
	// s is the server for KubeletCertificate (its caller checks,
	// forwarding, the Kubernetes CA and the received config); nil when
	// the service is served alone (NewKubernetesHandler), which then
	// refuses that call.
	s *Server
	// images serves ImportImages and ListImages; nil (served alone)
	// refuses them.
	images *imageService
}

// Kubeconfig implements cairn.kubernetes.v1.KubernetesService.
func (s *kubernetesService) Kubeconfig(ctx context.Context, req *connect.Request[kubernetesv1.KubeconfigRequest]) (*connect.Response[kubernetesv1.KubeconfigResponse], error) {
	if s.ops == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoKubernetes)
	}
	ttl := defaultKubeconfigTTL
	if d := req.Msg.GetTtl(); d != nil {
		if err := d.CheckValid(); err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("ttl: %w", err))
		}
		switch v := d.AsDuration(); {
		case v < 0:
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%w: ttl %s is negative", ErrKubeconfigTTL, v))
		case v > 0:
			ttl = v
		}
	}
	kubeconfig, server, expires, err := s.ops.AdminKubeconfig(ctx, ttl)
	if err != nil {
		return nil, kubernetesError(err)
	}
	s.log.Info("issued admin kubeconfig", "caller", callerFrom(ctx).subject(), "server", server, "ttl", ttl, "expires", expires)
	res := &kubernetesv1.KubeconfigResponse{Kubeconfig: kubeconfig, Server: server}
	if !expires.IsZero() {
		res.Expires = timestamppb.New(expires)
	}
	return connect.NewResponse(res), nil
}

// kubernetesError maps a KubernetesOps error to a Connect code.
func kubernetesError(err error) error {
	switch {
	case errors.Is(err, ErrKubernetesDisabled):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, ErrKubeconfigTTL):
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return toConnect(err)
}
