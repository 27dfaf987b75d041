package consensus

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testCA issues certificates for the mutual-TLS transport test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// tlsFor returns a transport config for a node at addr: one certificate
// valid for both ends, the CA as the only root, client certs required.
func (ca *testCA) tlsFor(t *testing.T, addr string) *TLSConfig {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	host, _, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: addr},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP(host)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	pair := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &TLSConfig{
		Server: &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: ca.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13},
		// The dialer verifies the peer against the CA; the server name is
		// the peer's IP, which its certificate carries as a SAN.
		Client: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: ca.pool, MinVersion: tls.VersionTLS13},
	}
}

func TestMutualTLSTransport(t *testing.T) {
	ca := newTestCA(t)
	tlsByAddr := map[string]*TLSConfig{}
	c := newCluster(t, 3, func(cfg *Config) {
		if tlsByAddr[cfg.BindAddr] == nil {
			tlsByAddr[cfg.BindAddr] = ca.tlsFor(t, cfg.BindAddr)
		}
		cfg.TLS = tlsByAddr[cfg.BindAddr]
	})
	lead := c.leader()
	res, err := lead.store.Put(ctxT(t), "T", "x", []byte("over mTLS"))
	require.NoError(t, err)
	c.waitConverged(res.Revision)

	// A peer whose certificate comes from another CA cannot take part: the
	// leader cannot replicate to it, so it never catches up.
	foreign := newTestCA(t)
	nd := &testNode{id: "intruder", addr: nextAddr(), dir: t.TempDir()}
	cfg := testConfig(t, nd.id, nd.addr, nd.dir)
	cfg.TLS = foreign.tlsFor(t, nd.addr)
	s, err := Open(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, lead.store.AddNonvoter(ctxT(t), nd.id, nd.addr))
	_, err = lead.store.Put(ctxT(t), "T", "y", []byte("after"))
	require.NoError(t, err, "a non-voter that cannot be reached does not block commits")
	require.Never(t, func() bool { return s.Revision() > 0 }, time.Second, 50*time.Millisecond,
		"a peer with a foreign certificate must not receive the log")
}
