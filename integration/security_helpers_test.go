package integration

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

// Headers a client may set: the node to proxy to, and the one a node uses
// to state a forwarded caller's roles (which nodes must ignore from anyone
// without a node certificate).
const (
	headerNode        = "Cairn-Node"
	headerCallerRoles = "Cairn-Caller-Certificate" // a client sending it is ignored
)

// secrets reads the cluster's secrets from the cluster.yaml cluster create
// wrote.
func (c *localCluster) secrets(t testing.TB) config.Secrets {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.clusterDir(), "cluster.yaml"))
	require.NoError(t, err)
	cfg, err := config.Load(data)
	require.NoError(t, err)
	require.NotEmpty(t, cfg.Secrets.CA.Key)
	return cfg.Secrets
}

// issue mints a client config with roles through `cairnctl config new` as
// the admin, and returns its identity.
func (c *localCluster) issue(t testing.TB, name string, roles ...string) identity {
	t.Helper()
	path := filepath.Join(c.dir, name+".cairnconfig")
	out, err := c.ctl("config", "new", "--roles", strings.Join(roles, ","), "--name", name, "-o", path)
	require.NoError(t, err, out)
	require.Contains(t, out, "roles "+strings.Join(roles, ","))
	return readIdentity(t, path)
}

// expiredClientCert signs an os:admin client certificate with the cluster
// CA whose validity ended a day ago.
func expiredClientCert(t testing.TB, ca config.CertKeyPair) config.CertKeyPair {
	t.Helper()
	caCert, caKey, err := config.ParseCA(ca)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "expired", Organization: []string{config.APIRoleAdmin}},
		NotBefore:             time.Now().Add(-48 * time.Hour),
		NotAfter:              time.Now().Add(-24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return config.CertKeyPair{
		Crt: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}
}

// requireCode fails unless err is a Connect error with code.
func requireCode(t testing.TB, err error, code connect.Code, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.Equal(t, code.String(), connect.CodeOf(err).String(), append([]any{"%v: "}, err)...)
}

// requireHandshakeRefused fails unless id's call to addr fails as a
// transport error (no RPC status) and a bare TLS connection with id's
// certificate is answered with a TLS alert: the node refused the certificate
// in the handshake, before any RPC was authorized.
func requireHandshakeRefused(t testing.TB, id identity, addr string) {
	t.Helper()
	_, err := id.client(addr).GetConfig(ctxT(t, 5*time.Second), getRequest(false, ""))
	require.Error(t, err)
	code := connect.CodeOf(err)
	assert.NotContains(t, []connect.Code{connect.CodeUnauthenticated, connect.CodePermissionDenied}, code,
		"a transport error, not an RPC status: %v", err)

	cfg := id.tls.Clone()
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	require.NoError(t, err, "TLS 1.3: the client's side of the handshake completes")
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = conn.Read(make([]byte, 1))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "remote error: tls: ", "the node answers with a TLS alert")
	t.Logf("refused with %q", err)
}

// applyRequest wraps an ApplyConfig request, proxied to node unless empty.
func applyRequest(doc string, dryRun bool, node string) *connect.Request[clusterv1.ApplyConfigRequest] {
	r := connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: doc, DryRun: dryRun})
	if node != "" {
		r.Header().Set(headerNode, node)
	}
	return r
}

// getRequest wraps a GetConfig request, proxied to node unless empty.
func getRequest(includeSecrets bool, node string) *connect.Request[clusterv1.GetConfigRequest] {
	r := connect.NewRequest(&clusterv1.GetConfigRequest{IncludeSecrets: includeSecrets})
	if node != "" {
		r.Header().Set(headerNode, node)
	}
	return r
}

// secretNeedles are the strings that must never appear in logs or output:
// the gossip key, the join token, every line of the private key PEM bodies
// of the four CAs and of the service account key, and every line of the extra private keys given (client keys a node
// generated and returned once).
func secretNeedles(s config.Secrets, keys ...string) map[string]string {
	needles := map[string]string{"gossip key": s.GossipKey, "join token": s.JoinToken}
	addPEMLines(needles, "CA key", s.CA.Key)
	addPEMLines(needles, "etcd CA key", s.EtcdCA.Key)
	addPEMLines(needles, "Kubernetes CA key", s.KubernetesCA.Key)
	addPEMLines(needles, "front-proxy CA key", s.FrontProxyCA.Key)
	addPEMLines(needles, "service account key", s.ServiceAccountKey)
	for i, k := range keys {
		addPEMLines(needles, fmt.Sprintf("issued client key %d", i+1), k)
	}
	return needles
}

func addPEMLines(needles map[string]string, name, pemText string) {
	for i, line := range strings.Split(strings.TrimSpace(pemText), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "-----") {
			needles[fmt.Sprintf("%s (PEM line %d)", name, i+1)] = line
		}
	}
}

// assertNoSecrets checks that text (named what) holds none of the needles,
// reporting where a needle is without printing it.
func assertNoSecrets(t testing.TB, what, text string, needles map[string]string) {
	t.Helper()
	require.NotEmpty(t, text, "%s is empty: nothing was checked", what)
	for name, needle := range needles {
		require.NotEmpty(t, needle, name)
		if i := strings.Index(text, needle); i >= 0 {
			lineNo := strings.Count(text[:i], "\n") + 1
			t.Errorf("%s contains the %s on line %d", what, name, lineNo)
		}
	}
}
