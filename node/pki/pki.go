package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// RoleNode is the role of node certificates. A node calling another node
// (forwarding to the leader, proxying with Cairn-Node, its own watches) is
// trusted to state on whose behalf it calls; on its own behalf it may read.
const RoleNode = "os:node"

// NodeValidity is the lifetime of a node certificate; nodes renew at two
// thirds of it (see Identity.NeedsRenewal).
const NodeValidity = 30 * 24 * time.Hour

// clockSkew backdates NotBefore for peers whose clock is slightly behind.
const clockSkew = 5 * time.Minute

// NewKeyAndCSR makes a node key and a certificate request for its name and
// IPs, and any extra DNS names (the node's certSANs).
func NewKeyAndCSR(name string, ips []net.IP, dnsNames ...string) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate node key: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name}, DNSNames: withName(name, dnsNames), IPAddresses: ips,
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate request: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode node key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// decodeCSR decodes a PEM certificate request and checks its signature.
func decodeCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: not a PEM certificate request", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrBadCSR, err)
	}
	return csr, nil
}

// ParseCSR decodes and checks a node's certificate request: its signature,
// and a usable node name as common name. It returns the request.
func ParseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	csr, err := decodeCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	if name := csr.Subject.CommonName; name == "" || strings.ContainsAny(name, " /\\") {
		return nil, fmt.Errorf("%w: node name %q", ErrBadCSR, name)
	}
	return csr, nil
}

// withName returns name followed by the other names, without repeats.
func withName(name string, names []string) []string {
	out := []string{name}
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// SignNode issues a node certificate for a CSR: the CSR's common name as the
// node name (and first DNS SAN), its other DNS and IP SANs (the caller has
// checked them against the cluster config), role os:node, usable as server and
// client certificate, valid for NodeValidity (capped by the CA's own).
func SignNode(ca config.CertKeyPair, csrPEM []byte, now time.Time) ([]byte, error) {
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		return nil, err
	}
	name := csr.Subject.CommonName
	caCert, caKey, err := config.ParseCA(ca)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	notAfter := now.Add(NodeValidity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{RoleNode}},
		DNSNames:     withName(name, csr.DNSNames),
		IPAddresses:  csr.IPAddresses,
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, caCert, csr.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("sign node certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// CheckToken compares a presented join token with the cluster's in constant time.
func CheckToken(want, got string) error {
	if want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return ErrBadToken
	}
	return nil
}

// Roles returns the API roles a certificate carries in its Organization.
func Roles(cert *x509.Certificate) []string {
	var out []string
	for _, o := range cert.Subject.Organization {
		if strings.HasPrefix(o, config.APIRolePrefix) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// Identity is a node's certificate and the CA it trusts. The certificate
// can be replaced while in use (rotation): TLS configurations from it pick
// up the new one on the next handshake.
type Identity struct {
	cert  atomic.Pointer[tls.Certificate]
	pool  *x509.CertPool
	caPEM []byte
}

// NewIdentity builds an identity from PEM-encoded certificate, key and CA.
func NewIdentity(crtPEM, keyPEM, caPEM []byte) (*Identity, error) {
	id := &Identity{pool: x509.NewCertPool(), caPEM: caPEM}
	if !id.pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("parse cluster CA certificate")
	}
	if err := id.Replace(crtPEM, keyPEM); err != nil {
		return nil, err
	}
	return id, nil
}

// Replace swaps in a renewed certificate.
func (id *Identity) Replace(crtPEM, keyPEM []byte) error {
	pair, err := tls.X509KeyPair(crtPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("load node certificate: %w", err)
	}
	id.cert.Store(&pair)
	return nil
}

// Leaf returns the current certificate.
func (id *Identity) Leaf() *x509.Certificate { return id.cert.Load().Leaf }

// CAPEM returns the cluster CA certificate.
func (id *Identity) CAPEM() []byte { return id.caPEM }

// Pool returns the cluster CA as a pool.
func (id *Identity) Pool() *x509.CertPool { return id.pool }

// NeedsRenewal reports whether two thirds of the certificate's life is gone.
func (id *Identity) NeedsRenewal(now time.Time) bool { return NeedsRenewal(id.Leaf(), now) }

// ServerTLS is the node API's server configuration: TLS 1.3, client
// certificates verified against the cluster CA when given (the join-token
// RPC works without one; every other call is refused without one).
func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return id.cert.Load(), nil },
		ClientCAs:      id.pool,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// ClientTLS is the configuration for this node's calls to other nodes.
func (id *Identity) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		RootCAs:              id.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return id.cert.Load(), nil },
	}
}

// RaftServerTLS and RaftClientTLS are mutual TLS for the Raft transport:
// both ends must present a node certificate from the cluster CA.
func (id *Identity) RaftServerTLS() *tls.Config {
	c := id.ServerTLS()
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.NextProtos = nil
	c.VerifyPeerCertificate = requireNodeRole
	return c
}

// RaftClientTLS: see RaftServerTLS.
func (id *Identity) RaftClientTLS() *tls.Config {
	c := id.ClientTLS()
	c.VerifyPeerCertificate = requireNodeRole
	return c
}

// requireNodeRole refuses a Raft peer whose (CA-verified) certificate is not
// a node certificate: an operator's client certificate must not speak Raft.
func requireNodeRole(_ [][]byte, chains [][]*x509.Certificate) error {
	for _, chain := range chains {
		if len(chain) > 0 && slices.Contains(Roles(chain[0]), RoleNode) {
			return nil
		}
	}
	return fmt.Errorf("raft peer certificate is not a cairn node certificate")
}
