package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/pki"
	kubernetesv1 "github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
)

var (
	errKubeletNotNode = errors.New("only a node may ask for a kubelet certificate, with its node certificate (role os:node); operators use Kubeconfig")
	errKubeletRelayed = errors.New("a kubelet certificate is asked for by the node itself, through its own API or a control plane's")
	errNoKubeCA       = errors.New("this control plane holds no Kubernetes CA (secrets.kubernetesCA)")
	errNoServer       = errors.New("this handler serves no kubelet certificates")
)

// KubeletCertificate implements cairn.kubernetes.v1.KubernetesService: the
// calling node's kubelet client certificate, signed by the Kubernetes CA
// for the CSR's key. A worker checks the caller and forwards the call to a
// control plane (the leader first, as forward does) with the caller's
// certificate; the control plane checks it again, and the CSR, and signs.
func (k *kubernetesService) KubeletCertificate(ctx context.Context, req *connect.Request[kubernetesv1.KubeletCertificateRequest]) (*connect.Response[kubernetesv1.KubeletCertificateResponse], error) {
	s := k.s
	if s == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoServer)
	}
	name, err := kubeletCaller(callerFrom(ctx))
	if err != nil {
		return nil, err
	}
	if !s.opts.ControlPlane {
		return forwardVia(ctx, s, req, s.kubernetesClient, kubernetesv1connect.KubernetesServiceClient.KubeletCertificate)
	}
	if s.opts.KubeCA == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoKubeCA)
	}
	cfg, err := s.receivedConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Cluster.Kubernetes.Disabled {
		return nil, connect.NewError(connect.CodeFailedPrecondition, ErrKubernetesDisabled)
	}
	if !slices.ContainsFunc(cfg.Nodes, func(n config.Node) bool { return n.Name == name }) {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%w: node %q is not in the cluster config", errForbidden, name))
	}
	crt, err := pki.SignKubeletCSR(*s.opts.KubeCA, req.Msg.GetCsr(), name, pki.KubeValidity, time.Now())
	switch {
	case errors.Is(err, pki.ErrKubeletIdentity):
		s.log.Warn("refused kubelet certificate", "node", name, "error", err)
		return nil, connect.NewError(connect.CodePermissionDenied, err)
	case errors.Is(err, pki.ErrBadCSR):
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	case err != nil:
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	cert, err := pki.ParseCertificatePEM(crt)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, err)
	}
	s.log.Info("issued kubelet certificate", "node", name, "expires", cert.NotAfter)
	return connect.NewResponse(&kubernetesv1.KubeletCertificateResponse{
		Crt: []byte(crt), Ca: []byte(s.opts.KubeCA.Crt), Expires: timestamppb.New(cert.NotAfter),
	}), nil
}

// kubeletCaller returns the name of the node a KubeletCertificate call is
// for: the caller's, which must be a node. A call relayed by another node
// is refused: a node's certificate is no secret (it presents it to every
// node it calls), so a relaying node could otherwise pass on any node's
// and have a kubelet certificate signed for that node's name and its own
// key. Relayed by the node itself (a worker's API forwarding its own
// call) is the one hop there is.
func kubeletCaller(c caller) (string, error) {
	if !slices.Contains(c.roles, pki.RoleNode) {
		return "", connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%w: %w; the caller has %s", errForbidden, errKubeletNotNode, c.rolesText()))
	}
	name := c.subject()
	if name == "" {
		return "", connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%w: the caller's node certificate names no node", errForbidden))
	}
	if c.via != "" && c.via != name {
		return "", connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%w: %w, not relayed by %s for %s", errForbidden, errKubeletRelayed, c.via, name))
	}
	return name, nil
}

// receivedConfig is the cluster config this node runs (the ClusterConfig
// resource its config controllers received), as node/kubernetes.go's
// kubeconfig issuer reads it.
func (s *Server) receivedConfig() (*config.Config, error) {
	if s.opts.Resources == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("this node keeps no resources to read its cluster config from"))
	}
	spec, received, err := controllers.ReceivedConfig(s.opts.Resources)
	switch {
	case err != nil:
		return nil, connect.NewError(connect.CodeInternal, err)
	case !received:
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("this node has no cluster config yet"))
	}
	return spec.Config, nil
}

// kubernetesClient returns a client for name's Kubernetes service, over
// the peer transport (this node's certificate).
func (s *Server) kubernetesClient(name string) (kubernetesv1connect.KubernetesServiceClient, error) {
	addr, err := s.memberAPI(name)
	if err != nil {
		return nil, err
	}
	return kubernetesv1connect.NewKubernetesServiceClient(&http.Client{Transport: s.peers}, "https://"+addr, connect.WithGRPC()), nil
}
