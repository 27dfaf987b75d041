package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// Common names of the etcd client certificates. etcd authenticates clients by
// the etcd CA alone; the name says in etcd's logs who connected (and, if etcd
// auth is ever turned on, is the user etcd maps the certificate to).
const (
	// EtcdClientCairnd is the client cairnd uses for membership and health.
	EtcdClientCairnd = "cairnd"
	// EtcdClientAPIServer is kube-apiserver's client.
	EtcdClientAPIServer = "kube-apiserver"
	// EtcdPeerCommonName is the common name of every peer certificate:
	// etcd's peer port accepts only it (--peer-cert-allowed-cn), so no
	// client certificate from the same CA can act as a member.
	EtcdPeerCommonName = "cairn-etcd-peer"
)

// EtcdValidity is the lifetime of etcd peer, server and client certificates,
// the same as node certificates: they are renewed at two thirds of it (see
// NeedsRenewal) by the control plane that holds them.
const EtcdValidity = NodeValidity

// IssueEtcdPeer issues a control plane's etcd peer certificate from the etcd
// CA (secrets.etcdCA): EtcdPeerCommonName as common name, the node's name
// as first DNS SAN, its other DNS names and its IPs (n.CertDNSNames,
// n.CertIPs), usable as server and client, since etcd members dial each
// other with it. The key is new and is generated here, on the control
// plane that will use it.
func IssueEtcdPeer(etcdCA config.CertKeyPair, n *config.Node, now time.Time) (config.CertKeyPair, error) {
	if err := checkEtcdMember(n); err != nil {
		return config.CertKeyPair{}, err
	}
	tmpl := etcdTemplate(n)
	tmpl.Subject.CommonName = EtcdPeerCommonName
	return issueEtcd(etcdCA, tmpl, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, now)
}

// IssueEtcdServer issues a control plane's etcd server certificate (the
// client port, 2379) from the etcd CA, for the same names and IPs as
// IssueEtcdPeer but usable as a server only.
func IssueEtcdServer(etcdCA config.CertKeyPair, n *config.Node, now time.Time) (config.CertKeyPair, error) {
	if err := checkEtcdMember(n); err != nil {
		return config.CertKeyPair{}, err
	}
	return issueEtcd(etcdCA, etcdTemplate(n), []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, now)
}

// IssueEtcdClient issues a client certificate for etcd's client port from
// the etcd CA, with commonName (EtcdClientCairnd, EtcdClientAPIServer) as
// its subject and no SANs, usable for client authentication only.
func IssueEtcdClient(etcdCA config.CertKeyPair, commonName string, now time.Time) (config.CertKeyPair, error) {
	if commonName == "" {
		return config.CertKeyPair{}, fmt.Errorf("%w: etcd client name is empty", ErrBadEtcdRequest)
	}
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: commonName}}
	return issueEtcd(etcdCA, tmpl, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, now)
}

// EtcdPool returns the etcd CA's certificate as a pool: what etcd trusts for
// peers and clients, and what its clients trust for the server.
func EtcdPool(etcdCA config.CertKeyPair) (*x509.CertPool, error) {
	cert, _, err := config.ParseCA(etcdCA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}

// NeedsRenewal reports whether two thirds of cert's life is gone at now.
func NeedsRenewal(cert *x509.Certificate, now time.Time) bool {
	life := cert.NotAfter.Sub(cert.NotBefore)
	return now.After(cert.NotBefore.Add(life * 2 / 3))
}

// EtcdNeedsReissue reports whether a control plane's etcd peer or server
// certificate (PEM) must be issued again: it does not parse, is not signed
// by the etcd CA, is due for renewal, or names other DNS names or IPs than
// node n has now (an address or certSAN changed).
func EtcdNeedsReissue(etcdCA config.CertKeyPair, crtPEM string, n *config.Node, now time.Time) bool {
	cert, ok := currentEtcdCert(etcdCA, crtPEM, x509.ExtKeyUsageAny, now)
	if !ok {
		return true
	}
	want := etcdTemplate(n)
	return !slices.Equal(cert.DNSNames, want.DNSNames) ||
		!slices.EqualFunc(cert.IPAddresses, want.IPAddresses, net.IP.Equal)
}

// EtcdClientNeedsReissue reports whether an etcd client certificate (PEM)
// must be issued again: it does not parse, is not a client certificate
// from the etcd CA, or is due for renewal.
func EtcdClientNeedsReissue(etcdCA config.CertKeyPair, crtPEM string, now time.Time) bool {
	_, ok := currentEtcdCert(etcdCA, crtPEM, x509.ExtKeyUsageClientAuth, now)
	return !ok
}

// currentEtcdCert parses a certificate and reports whether the etcd CA
// signed it for usage and it is not yet due for renewal at now.
func currentEtcdCert(etcdCA config.CertKeyPair, crtPEM string, usage x509.ExtKeyUsage, now time.Time) (*x509.Certificate, bool) {
	cert, err := ParseCertificatePEM(crtPEM)
	if err != nil {
		return nil, false
	}
	pool, err := EtcdPool(etcdCA)
	if err != nil {
		return nil, false
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return nil, false
	}
	return cert, !NeedsRenewal(cert, now)
}

// checkEtcdMember refuses nodes that run no etcd member.
func checkEtcdMember(n *config.Node) error {
	if n == nil || n.Name == "" {
		return fmt.Errorf("%w: no node", ErrBadEtcdRequest)
	}
	if n.Role != config.RoleControlPlane {
		return fmt.Errorf("%w: node %s is a %s; only control planes run etcd", ErrBadEtcdRequest, n.Name, n.Role)
	}
	return nil
}

// etcdTemplate holds a control plane's subject and SANs.
func etcdTemplate(n *config.Node) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: n.Name},
		DNSNames:    n.CertDNSNames(),
		IPAddresses: n.CertIPs(),
	}
}

// issueEtcd completes tmpl (serial, validity capped by the CA's, usages),
// signs it with the etcd CA and a new ECDSA P-256 key, and returns both.
func issueEtcd(etcdCA config.CertKeyPair, tmpl *x509.Certificate, usages []x509.ExtKeyUsage, now time.Time) (config.CertKeyPair, error) {
	return issue(etcdCA, "etcd", tmpl, usages, EtcdValidity, now)
}

// issue completes tmpl (serial, validity from now capped by the CA's,
// usages), signs it with ca and a new ECDSA P-256 key, and returns both.
// what names the CA in errors ("etcd", "kubernetes").
func issue(ca config.CertKeyPair, what string, tmpl *x509.Certificate, usages []x509.ExtKeyUsage, validity time.Duration, now time.Time) (config.CertKeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return config.CertKeyPair{}, fmt.Errorf("generate %s key: %w", what, err)
	}
	crt, err := signFor(ca, what, tmpl, usages, validity, now, key.Public())
	if err != nil {
		return config.CertKeyPair{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return config.CertKeyPair{}, fmt.Errorf("encode %s key: %w", what, err)
	}
	return config.CertKeyPair{
		Crt: crt,
		Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}, nil
}

// signFor is issue's signing step for a public key held elsewhere (a CSR's):
// it completes tmpl as issue does, signs it with ca for pub and returns the
// certificate, PEM.
func signFor(ca config.CertKeyPair, what string, tmpl *x509.Certificate, usages []x509.ExtKeyUsage, validity time.Duration, now time.Time, pub any) (string, error) {
	caCert, caKey, err := config.ParseCA(ca)
	if err != nil {
		return "", fmt.Errorf("%s CA: %w", what, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", fmt.Errorf("serial number: %w", err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(validity)
	if tmpl.NotAfter.After(caCert.NotAfter) {
		tmpl.NotAfter = caCert.NotAfter
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = usages
	tmpl.BasicConstraintsValid = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, pub, caKey)
	if err != nil {
		return "", fmt.Errorf("sign %s certificate %s: %w", what, tmpl.Subject.CommonName, err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

// ParseCertificatePEM decodes one PEM certificate.
func ParseCertificatePEM(crtPEM string) (*x509.Certificate, error) {
	block, _ := pem.Decode([]byte(crtPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
