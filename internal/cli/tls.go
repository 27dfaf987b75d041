package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// Client certificates that gen config and cluster create issue.
const (
	adminClientName     = "admin"
	adminClientValidity = 365 * 24 * time.Hour
)

// adminContext returns a context for the cluster's control planes holding
// a fresh os:admin client certificate signed by the cluster CA.
func adminContext(cfg *config.Config) (Context, error) {
	id, err := config.GenerateAdminClientCert(cfg.Secrets.CA, adminClientName,
		[]string{config.APIRoleAdmin}, adminClientValidity)
	if err != nil {
		return Context{}, fmt.Errorf("issue the admin client certificate: %w", err)
	}
	return Context{Endpoints: controlPlaneEndpoints(cfg), CA: cfg.Secrets.CA.Crt, Crt: id.Crt, Key: id.Key}, nil
}

// tlsConfig returns the TLS client configuration of the context: trust the
// cluster CA only and present the context's client certificate. It checks
// the certificate's dates so that an expired one is named as such instead of
// failing as an anonymous handshake error.
func (c *Context) tlsConfig(now time.Time) (*tls.Config, error) {
	if c.Crt == "" || c.Key == "" || c.CA == "" {
		return nil, ErrNoClientCert
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.CA)) {
		return nil, fmt.Errorf("%w: ca holds no PEM certificate", ErrBadClientCert)
	}
	pair, err := tls.X509KeyPair([]byte(c.Crt), []byte(c.Key))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadClientCert, err)
	}
	if leaf := pair.Leaf; leaf != nil && now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: it expired on %s", ErrBadClientCert, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}, nil
}

// certSummary describes a PEM client certificate for humans: its name,
// roles and expiry.
func certSummary(crtPEM string) string {
	block, _ := pem.Decode([]byte(crtPEM))
	if block == nil {
		return "unreadable certificate"
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "unreadable certificate"
	}
	return fmt.Sprintf("name %q, roles %s, expires %s", c.Subject.CommonName,
		strings.Join(c.Subject.Organization, ","), c.NotAfter.UTC().Format(time.RFC3339))
}

// tlsHint explains a TLS failure of the node API in terms of what to do,
// or returns "" when err is not one.
func tlsHint(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &unknownCA):
		return "the endpoint's certificate is not signed by this context's CA: does the context belong to this cluster?"
	case errors.As(err, &hostErr):
		return "the endpoint's certificate does not name this address: use the node's API address as the endpoint"
	case strings.Contains(err.Error(), "remote error: tls:"):
		return "the node refused the client certificate (expired, or from another cluster's CA): ask an admin for a new one ('cairnctl config new')"
	}
	return ""
}
