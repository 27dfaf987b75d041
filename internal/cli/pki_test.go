package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// testPKI is a cluster CA with a server certificate for 127.0.0.1 and an
// os:admin client identity, shared by the tests of this package.
type testPKI struct {
	ca     config.CertKeyPair
	pool   *x509.CertPool
	server tls.Certificate
	admin  config.CertKeyPair
}

var (
	pkiOnce sync.Once
	pki     *testPKI
	pkiErr  error
)

// getPKI returns the shared test PKI, generating it on first use.
func getPKI(t *testing.T) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pki, pkiErr = newTestPKI("test") })
	require.NoError(t, pkiErr)
	return pki
}

func newTestPKI(cluster string) (*testPKI, error) {
	ca, err := config.NewCA(nil, cluster, time.Now())
	if err != nil {
		return nil, err
	}
	server, err := signServerCert(ca, "cp1", net.IPv4(127, 0, 0, 1))
	if err != nil {
		return nil, err
	}
	admin, err := config.GenerateAdminClientCert(ca, "admin", []string{config.APIRoleAdmin}, time.Hour)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(ca.Crt))
	return &testPKI{ca: ca, pool: pool, server: server, admin: admin}, nil
}

// adminContext is a context for endpoints with the test admin identity.
func (p *testPKI) adminContext(endpoints ...string) Context {
	return Context{Endpoints: endpoints, CA: p.ca.Crt, Crt: p.admin.Crt, Key: p.admin.Key}
}

// signServerCert issues a TLS server certificate for a node named name
// with the given IP SANs, signed by ca.
func signServerCert(ca config.CertKeyPair, name string, ips ...net.IP) (tls.Certificate, error) {
	pair, err := signCert(ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		DNSNames:    []string{name},
		IPAddresses: ips,
		NotBefore:   time.Now().Add(-time.Minute),
		NotAfter:    time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
}

// signCert signs tmpl (given a serial number here) for a new P-256 key
// with ca, and returns the PEM certificate and key.
func signCert(ca config.CertKeyPair, tmpl *x509.Certificate) (config.CertKeyPair, error) {
	caCert, caKey, err := config.ParseCA(ca)
	if err != nil {
		return config.CertKeyPair{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return config.CertKeyPair{}, err
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return config.CertKeyPair{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return config.CertKeyPair{}, err
	}
	return config.CertKeyPair{
		Crt: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}, nil
}

// parseCertPEM decodes one PEM certificate.
func parseCertPEM(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	require.NotNil(t, block, "no PEM block in %q", s)
	c, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return c
}
