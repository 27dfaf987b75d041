package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
)

func testCA(t *testing.T) config.CertKeyPair {
	ca, err := config.NewCA(nil, "test", time.Now())
	require.NoError(t, err)
	return ca
}

func TestSignNode(t *testing.T) {
	ca := testCA(t)
	key, csr, err := NewKeyAndCSR("cp1", []net.IP{net.ParseIP("127.0.5.1")})
	require.NoError(t, err)
	crt, err := SignNode(ca, csr, time.Now())
	require.NoError(t, err)
	id, err := NewIdentity(crt, key, []byte(ca.Crt))
	require.NoError(t, err)
	leaf := id.Leaf()
	assert.Equal(t, []string{RoleNode}, Roles(leaf))
	assert.Equal(t, []string{"cp1"}, leaf.DNSNames)
	assert.True(t, leaf.IPAddresses[0].Equal(net.ParseIP("127.0.5.1")))
	_, err = leaf.Verify(x509.VerifyOptions{Roots: id.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
	assert.False(t, id.NeedsRenewal(time.Now()))
	assert.True(t, id.NeedsRenewal(time.Now().Add(NodeValidity*3/4)))

	// Rotation: a new certificate replaces the old in place.
	key2, csr2, err := NewKeyAndCSR("cp1", nil)
	require.NoError(t, err)
	crt2, err := SignNode(ca, csr2, time.Now())
	require.NoError(t, err)
	require.NoError(t, id.Replace(crt2, key2))
	assert.NotEqual(t, leaf.SerialNumber, id.Leaf().SerialNumber)
}

func TestSignNodeRejectsBadRequests(t *testing.T) {
	ca := testCA(t)
	_, err := SignNode(ca, []byte("not pem"), time.Now())
	require.ErrorIs(t, err, ErrBadCSR)
	_, csr, err := NewKeyAndCSR("", nil)
	require.NoError(t, err)
	_, err = SignNode(ca, csr, time.Now())
	require.ErrorIs(t, err, ErrBadCSR)
	// A request whose signature does not match its key.
	_, good, err := NewKeyAndCSR("n1", nil)
	require.NoError(t, err)
	block, _ := pem.Decode(good)
	block.Bytes[len(block.Bytes)-3] ^= 0xff
	_, err = SignNode(ca, pem.EncodeToMemory(block), time.Now())
	require.ErrorIs(t, err, ErrBadCSR)
}

func TestCheckToken(t *testing.T) {
	require.NoError(t, CheckToken("abcdef.0123456789abcdef", "abcdef.0123456789abcdef"))
	require.ErrorIs(t, CheckToken("abcdef.0123456789abcdef", "abcdef.0123456789abcdee"), ErrBadToken)
	require.ErrorIs(t, CheckToken("", ""), ErrBadToken)
}

// TestRaftTLSRefusesClientCertificates: an operator's certificate, though
// signed by the cluster CA, cannot open a Raft connection.
func TestRaftTLSRefusesClientCertificates(t *testing.T) {
	ca := testCA(t)
	key, csr, err := NewKeyAndCSR("cp1", []net.IP{net.ParseIP("127.0.0.1")})
	require.NoError(t, err)
	crt, err := SignNode(ca, csr, time.Now())
	require.NoError(t, err)
	id, err := NewIdentity(crt, key, []byte(ca.Crt))
	require.NoError(t, err)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", id.RaftServerTLS())
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, c) // the handshake happens on first read
			_ = c.Close()
		}
	}()

	dial := func(cert tls.Certificate) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: id.Pool(), Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
		if err != nil {
			return err
		}
		defer c.Close()
		// TLS 1.3: the server's verdict on our certificate arrives with
		// the first read.
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 1))
		return err
	}
	nodeCert, err := tls.X509KeyPair(crt, key)
	require.NoError(t, err)
	err = dial(nodeCert)
	assert.NotContains(t, errString(err), "certificate", "a node certificate is accepted")

	op, err := config.GenerateAdminClientCert(ca, "op", []string{config.APIRoleOperator}, time.Hour)
	require.NoError(t, err)
	opCert, err := tls.X509KeyPair([]byte(op.Crt), []byte(op.Key))
	require.NoError(t, err)
	err = dial(opCert)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
