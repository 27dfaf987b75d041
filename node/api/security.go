package api

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
	securityv1 "github.com/cairn-project/cairn/proto/gen/cairn/security/v1"
)

type securityService struct{ s *Server }

var errNotControlPlane = errors.New("only control-plane nodes hold the cluster CA; call one of them")

// Certificate implements cairn.security.v1.SecurityService: a joining node
// trades the join token and a CSR for its node certificate. Only a node the
// cluster config lists gets one, and only for that node's own addresses, so
// the token cannot mint identities the cluster does not know.
func (h *securityService) Certificate(ctx context.Context, req *connect.Request[securityv1.CertificateRequest]) (*connect.Response[securityv1.CertificateResponse], error) {
	s := h.s
	if s.opts.CA == nil || !s.opts.ControlPlane {
		return nil, connect.NewError(connect.CodeUnavailable, errNotControlPlane)
	}
	if err := pki.CheckToken(s.opts.JoinToken, req.Msg.Token); err != nil {
		s.log.Warn("refused certificate request: bad join token", "peer", req.Peer().Addr)
		return nil, connect.NewError(connect.CodePermissionDenied, err)
	}
	csr, err := pki.ParseCSR(req.Msg.Csr)
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	st, err := s.configs.Get(ctx, s.replica, consensus.Stale)
	if err != nil {
		return nil, toConnect(err)
	}
	if err := allowedIdentity(st.Config, csr); err != nil {
		s.log.Warn("refused certificate request", "peer", req.Peer().Addr, "error", err)
		return nil, connect.NewError(connect.CodePermissionDenied, err)
	}
	crt, err := pki.SignNode(*s.opts.CA, req.Msg.Csr, time.Now())
	if err != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, err)
	}
	s.log.Info("issued node certificate", "node", csr.Subject.CommonName, "peer", req.Peer().Addr)
	return connect.NewResponse(&securityv1.CertificateResponse{Crt: crt, Ca: []byte(s.opts.CA.Crt)}), nil
}

// GenerateClientConfig implements cairn.security.v1.SecurityService.
func (h *securityService) GenerateClientConfig(_ context.Context, req *connect.Request[securityv1.GenerateClientConfigRequest]) (*connect.Response[securityv1.GenerateClientConfigResponse], error) {
	s := h.s
	if s.opts.CA == nil {
		return nil, connect.NewError(connect.CodeUnavailable, errNotControlPlane)
	}
	valid := []string{config.APIRoleAdmin, config.APIRoleOperator, config.APIRoleReader}
	if len(req.Msg.Roles) == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("roles: at least one of %v", valid))
	}
	for _, r := range req.Msg.Roles {
		if !slices.Contains(valid, r) {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("roles: %q is not one of %v", r, valid))
		}
	}
	ttl := 365 * 24 * time.Hour
	if req.Msg.Ttl != nil && req.Msg.Ttl.AsDuration() > 0 {
		ttl = req.Msg.Ttl.AsDuration()
	}
	name := req.Msg.Name
	if name == "" {
		name = "client"
	}
	pair, err := config.GenerateAdminClientCert(*s.opts.CA, name, req.Msg.Roles, ttl)
	if err != nil {
		return nil, toConnect(err)
	}
	s.log.Info("issued client certificate", "name", name, "roles", req.Msg.Roles, "ttl", ttl)
	return connect.NewResponse(&securityv1.GenerateClientConfigResponse{
		Ca: []byte(s.opts.CA.Crt), Crt: []byte(pair.Crt), Key: []byte(pair.Key),
	}), nil
}

// allowedIdentity checks a CSR against the cluster config: the name must be
// a listed node, and every IP one of that node's endpoint addresses.
func allowedIdentity(c *config.Config, csr *x509.CertificateRequest) error {
	name := csr.Subject.CommonName
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if n.Name != name {
			continue
		}
		own := n.CertIPs()
		for _, ip := range csr.IPAddresses {
			if !slices.ContainsFunc(own, ip.Equal) {
				return fmt.Errorf("%w: %s is not an address of node %s", errForbidden, ip, name)
			}
		}
		names := n.CertDNSNames()
		for _, dns := range csr.DNSNames {
			if !slices.Contains(names, dns) {
				return fmt.Errorf("%w: %s is not a name of node %s (its name or certSANs)", errForbidden, dns, name)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: node %q is not in the cluster config", errForbidden, name)
}
