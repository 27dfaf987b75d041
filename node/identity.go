package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/cairn-project/cairn/internal/backoff"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
	securityv1 "github.com/cairn-project/cairn/proto/gen/cairn/security/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/security/v1/securityv1connect"
)

// issuer obtains this node's certificate: a control plane signs its own
// with the cluster CA; a worker asks a control plane, authenticated by the
// join token (Talos's trustd flow), and never uses the CA key.
type issuer struct {
	cfg  *config.Config
	self *config.Node
	log  *slog.Logger
}

// issue returns a fresh key and certificate (PEM).
func (is *issuer) issue(ctx context.Context) (crt, key []byte, err error) {
	key, csr, err := pki.NewKeyAndCSR(is.self.Name, is.self.CertIPs(), is.self.CertDNSNames()...)
	if err != nil {
		return nil, nil, err
	}
	if is.self.Role == config.RoleControlPlane {
		crt, err = pki.SignNode(is.cfg.Secrets.CA, csr, time.Now())
		return crt, key, err
	}
	crt, err = is.request(ctx, csr)
	return crt, key, err
}

// request asks the control planes in turn until one signs, backing off
// between rounds: at first boot the control planes may not be up yet. It
// runs before the node's runtime exists (nothing else can start without the
// certificate), so the retry is backoff.Retry's.
func (is *issuer) request(ctx context.Context, csr []byte) ([]byte, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(is.cfg.Secrets.CA.Crt)) {
		return nil, fmt.Errorf("parse cluster CA certificate")
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	var crt []byte
	round := func(ctx context.Context) error {
		var lastErr error
		for _, cp := range is.cfg.ControlPlanes() {
			c := securityv1connect.NewSecurityServiceClient(&http.Client{Transport: tr, Timeout: 5 * time.Second}, "https://"+cp.APIEndpoint())
			res, err := c.Certificate(ctx, connect.NewRequest(&securityv1.CertificateRequest{Csr: csr, Token: is.cfg.Secrets.JoinToken}))
			if err == nil {
				is.log.Info("node certificate issued", "by", cp.Name)
				crt = res.Msg.Crt
				return nil
			}
			lastErr = err
			if connect.CodeOf(err) == connect.CodePermissionDenied {
				return fmt.Errorf("certificate request refused by %s: %w: %w", cp.Name, backoff.ErrPermanent, err)
			}
		}
		return lastErr
	}
	err := backoff.Retry(ctx, backoff.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}, round, func(err error, d time.Duration) {
		is.log.Info("waiting for a control plane to issue the node certificate", "error", err, "retry", d)
	})
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	return crt, nil
}

// identity issues the node's first certificate.
func (is *issuer) identity(ctx context.Context) (*pki.Identity, error) {
	crt, key, err := is.issue(ctx)
	if err != nil {
		return nil, err
	}
	return pki.NewIdentity(crt, key, []byte(is.cfg.Secrets.CA.Crt))
}
