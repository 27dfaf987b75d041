package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

func testEtcdCA(t *testing.T) config.CertKeyPair {
	t.Helper()
	ca, err := config.NewEtcdCA(nil, "test", time.Now())
	require.NoError(t, err)
	return ca
}

// etcdNode is a control plane with endpoints on two IPs and certSANs of
// both kinds, one of them repeating an endpoint IP.
func etcdNode() *config.Node {
	return &config.Node{
		Name: "cp1", Role: config.RoleControlPlane,
		APIAddress: "10.5.0.2:6440", GossipAddress: "10.5.0.2:6441", RaftAddress: "10.6.0.2:6442",
		CertSANs: []string{"127.0.10.2", "CP1.example.com", "10.5.0.2"},
	}
}

func parsePair(t *testing.T, p config.CertKeyPair) *x509.Certificate {
	t.Helper()
	pair, err := tls.X509KeyPair([]byte(p.Crt), []byte(p.Key))
	require.NoError(t, err, "the key belongs to the certificate")
	key, ok := pair.Leaf.PublicKey.(*ecdsa.PublicKey)
	require.True(t, ok, "ECDSA key")
	assert.Equal(t, elliptic.P256(), key.Curve)
	return pair.Leaf
}

func verifies(cert *x509.Certificate, pool *x509.CertPool, dnsName string, usage x509.ExtKeyUsage) error {
	_, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: dnsName, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func TestIssueEtcdPeerAndServer(t *testing.T) {
	etcdCA, osCA := testEtcdCA(t), testCA(t)
	etcdPool, err := EtcdPool(etcdCA)
	require.NoError(t, err)
	osPool, err := EtcdPool(osCA) // any CA pair makes a pool
	require.NoError(t, err)
	now := time.Now()

	for _, tc := range []struct {
		name   string
		issue  func(config.CertKeyPair, *config.Node, time.Time) (config.CertKeyPair, error)
		usages []x509.ExtKeyUsage
		cn     string
	}{
		{"peer", IssueEtcdPeer, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, EtcdPeerCommonName},
		{"server", IssueEtcdServer, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, "cp1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pair, err := tc.issue(etcdCA, etcdNode(), now)
			require.NoError(t, err)
			cert := parsePair(t, pair)
			assert.Equal(t, tc.cn, cert.Subject.CommonName)
			assert.Equal(t, []string{"cp1", "cp1.example.com"}, cert.DNSNames)
			var ips []string
			for _, ip := range cert.IPAddresses {
				ips = append(ips, ip.String())
			}
			assert.Equal(t, []string{"10.5.0.2", "10.6.0.2", "127.0.10.2"}, ips, "endpoint IPs, then IP certSANs, each once")
			assert.Equal(t, tc.usages, cert.ExtKeyUsage)
			assert.False(t, cert.IsCA)
			assert.WithinDuration(t, now.Add(EtcdValidity), cert.NotAfter, time.Second)

			for _, name := range []string{"cp1", "cp1.example.com", "10.6.0.2", "127.0.10.2"} {
				require.NoError(t, verifies(cert, etcdPool, name, x509.ExtKeyUsageServerAuth), name)
			}
			require.Error(t, verifies(cert, etcdPool, "cp2", x509.ExtKeyUsageServerAuth), "another node's name")
			require.Error(t, verifies(cert, osPool, "cp1", x509.ExtKeyUsageServerAuth), "the cluster (OS) CA does not vouch for etcd certificates")
			clientErr := verifies(cert, etcdPool, "", x509.ExtKeyUsageClientAuth)
			if tc.name == "peer" {
				require.NoError(t, clientErr, "peers dial each other with the peer certificate")
			} else {
				require.Error(t, clientErr, "the server certificate is not a client certificate")
			}
		})
	}
}

func TestIssueEtcdClient(t *testing.T) {
	etcdCA, osCA := testEtcdCA(t), testCA(t)
	etcdPool, err := EtcdPool(etcdCA)
	require.NoError(t, err)
	osPool, err := EtcdPool(osCA)
	require.NoError(t, err)

	for _, name := range []string{EtcdClientCairnd, EtcdClientAPIServer} {
		pair, err := IssueEtcdClient(etcdCA, name, time.Now())
		require.NoError(t, err)
		cert := parsePair(t, pair)
		assert.Equal(t, name, cert.Subject.CommonName)
		assert.Empty(t, cert.DNSNames)
		assert.Empty(t, cert.IPAddresses)
		assert.Empty(t, Roles(cert), "no API role: it is no key to the node API")
		assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
		require.NoError(t, verifies(cert, etcdPool, "", x509.ExtKeyUsageClientAuth))
		require.Error(t, verifies(cert, etcdPool, "", x509.ExtKeyUsageServerAuth), "client auth only")
		require.Error(t, verifies(cert, osPool, "", x509.ExtKeyUsageClientAuth))
	}
}

// TestOSCertificatesDoNotVerifyAgainstEtcd: neither a node certificate nor
// an admin client certificate from the cluster CA is trusted by etcd.
func TestOSCertificatesDoNotVerifyAgainstEtcd(t *testing.T) {
	etcdCA, osCA := testEtcdCA(t), testCA(t)
	etcdPool, err := EtcdPool(etcdCA)
	require.NoError(t, err)

	_, csr, err := NewKeyAndCSR("cp1", []net.IP{net.ParseIP("10.5.0.2")})
	require.NoError(t, err)
	nodePEM, err := SignNode(osCA, csr, time.Now())
	require.NoError(t, err)
	nodeCert, err := ParseCertificatePEM(string(nodePEM))
	require.NoError(t, err)
	require.Error(t, verifies(nodeCert, etcdPool, "cp1", x509.ExtKeyUsageServerAuth))
	require.Error(t, verifies(nodeCert, etcdPool, "", x509.ExtKeyUsageClientAuth))

	admin, err := config.GenerateAdminClientCert(osCA, "admin", []string{config.APIRoleAdmin}, time.Hour)
	require.NoError(t, err)
	require.Error(t, verifies(parsePair(t, admin), etcdPool, "", x509.ExtKeyUsageClientAuth))
}

// TestEtcdMutualTLS runs a TLS server the way etcd's client port is
// configured (server certificate, client certificates required from the
// etcd CA) on loopback and dials it with cairnd's etcd client certificate
// and with an admin certificate from the cluster CA.
func TestEtcdMutualTLS(t *testing.T) {
	etcdCA, osCA := testEtcdCA(t), testCA(t)
	pool, err := EtcdPool(etcdCA)
	require.NoError(t, err)
	n := etcdNode()
	n.APIAddress, n.GossipAddress, n.RaftAddress = "127.0.0.1:6440", "127.0.0.1:6441", "127.0.0.1:6442"
	server, err := IssueEtcdServer(etcdCA, n, time.Now())
	require.NoError(t, err)
	serverPair, err := tls.X509KeyPair([]byte(server.Crt), []byte(server.Key))
	require.NoError(t, err)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{serverPair},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Only a completed handshake (the client's certificate
			// verified) earns the byte; a failed one closes with an alert.
			if c.(*tls.Conn).Handshake() == nil {
				_, _ = c.Write([]byte{1})
			}
			_ = c.Close()
		}
	}()
	dial := func(p config.CertKeyPair) error {
		cert, err := tls.X509KeyPair([]byte(p.Crt), []byte(p.Key))
		require.NoError(t, err)
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
			MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: "cp1", Certificates: []tls.Certificate{cert},
		})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1)) // TLS 1.3: the server's verdict arrives with the first read
		return err
	}

	client, err := IssueEtcdClient(etcdCA, EtcdClientCairnd, time.Now())
	require.NoError(t, err)
	require.NoError(t, dial(client), "cairnd's etcd client certificate is accepted")

	admin, err := config.GenerateAdminClientCert(osCA, "admin", []string{config.APIRoleAdmin}, time.Hour)
	require.NoError(t, err)
	err = dial(admin)
	require.Error(t, err, "an admin certificate from the cluster CA is refused")
	assert.Contains(t, err.Error(), "certificate")
}

func TestIssueEtcdRefusesBadRequests(t *testing.T) {
	etcdCA := testEtcdCA(t)
	w := etcdNode()
	w.Role, w.RaftAddress = config.RoleWorker, ""
	_, err := IssueEtcdPeer(etcdCA, w, time.Now())
	require.ErrorIs(t, err, ErrBadEtcdRequest, "workers run no etcd")
	_, err = IssueEtcdServer(etcdCA, w, time.Now())
	require.ErrorIs(t, err, ErrBadEtcdRequest)
	_, err = IssueEtcdServer(etcdCA, nil, time.Now())
	require.ErrorIs(t, err, ErrBadEtcdRequest)
	_, err = IssueEtcdClient(etcdCA, "", time.Now())
	require.ErrorIs(t, err, ErrBadEtcdRequest)

	broken := etcdCA
	broken.Key = testCA(t).Key
	_, err = IssueEtcdPeer(broken, etcdNode(), time.Now())
	require.ErrorIs(t, err, config.ErrBadCA)
}

func TestEtcdNeedsReissue(t *testing.T) {
	etcdCA := testEtcdCA(t)
	now := time.Now()
	pair, err := IssueEtcdPeer(etcdCA, etcdNode(), now)
	require.NoError(t, err)
	cert := parsePair(t, pair)

	assert.False(t, NeedsRenewal(cert, now))
	assert.False(t, NeedsRenewal(cert, now.Add(EtcdValidity/2)))
	assert.True(t, NeedsRenewal(cert, now.Add(EtcdValidity*3/4)))

	assert.False(t, EtcdNeedsReissue(etcdCA, pair.Crt, etcdNode(), now), "fresh and for the node's names")
	assert.True(t, EtcdNeedsReissue(etcdCA, pair.Crt, etcdNode(), now.Add(EtcdValidity*3/4)), "due for renewal")
	moved := etcdNode()
	moved.RaftAddress = "10.6.0.3:6442"
	assert.True(t, EtcdNeedsReissue(etcdCA, pair.Crt, moved, now), "an IP changed")
	renamed := etcdNode()
	renamed.CertSANs = renamed.CertSANs[:1]
	assert.True(t, EtcdNeedsReissue(etcdCA, pair.Crt, renamed, now), "a DNS certSAN went away")
	assert.True(t, EtcdNeedsReissue(testEtcdCA(t), pair.Crt, etcdNode(), now), "another etcd CA")
	assert.True(t, EtcdNeedsReissue(etcdCA, "not pem", etcdNode(), now))
}
