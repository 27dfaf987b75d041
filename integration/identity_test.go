package integration

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/security/v1/securityv1connect"
)

// identity is how a client reaches the node API, which is TLS-only: the
// cluster CA to verify nodes against and, usually, a client certificate
// whose Organization holds its roles.
type identity struct {
	ca, crt, key string // PEM; crt and key empty for an anonymous client
	tls          *tls.Config
}

// newIdentity checks the PEMs and prepares the TLS configuration. With crt
// and key empty the client presents no certificate.
func newIdentity(t testing.TB, ca, crt, key string) identity {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(ca)), "no CA certificate in %q", ca)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if crt != "" || key != "" {
		pair, err := tls.X509KeyPair([]byte(crt), []byte(key))
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{pair}
	}
	return identity{ca: ca, crt: crt, key: key, tls: cfg}
}

// presentingAlways returns a copy of id that sends its client certificate
// even when the node's list of acceptable CAs does not name its issuer (Go's
// TLS client otherwise sends none, and the call is merely unauthenticated),
// so that the node's own verification of it is what is tested.
func (id identity) presentingAlways() identity {
	cfg := id.tls.Clone()
	pair := cfg.Certificates[0]
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	id.tls = cfg
	return id
}

// cairnconfig is the shape of cairnctl's client config file.
type cairnconfig struct {
	Context  string `json:"context"`
	Contexts map[string]struct {
		Endpoints []string `json:"endpoints"`
		Nodes     []string `json:"nodes"`
		CA        string   `json:"ca"`
		Crt       string   `json:"crt"`
		Key       string   `json:"key"`
	} `json:"contexts"`
}

// readIdentity returns the identity of the current context of a cairnconfig.
func readIdentity(t testing.TB, path string) identity {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var cc cairnconfig
	require.NoError(t, yaml.UnmarshalStrict(data, &cc), path)
	ctx, ok := cc.Contexts[cc.Context]
	require.True(t, ok, "%s: no current context", path)
	require.NotEmpty(t, ctx.Crt, "%s: context %q has no client certificate", path, cc.Context)
	return newIdentity(t, ctx.CA, ctx.Crt, ctx.Key)
}

// httpClient speaks HTTPS with HTTP/2 negotiated by ALPN, as the node API
// and gRPC want.
func (id identity) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: id.tls.Clone(), ForceAttemptHTTP2: true}}
}

// client is a gRPC client for one node's cluster service.
func (id identity) client(addr string) clusterv1connect.ClusterServiceClient {
	return clusterv1connect.NewClusterServiceClient(id.httpClient(), "https://"+addr, connect.WithGRPC())
}

// machine is a gRPC client for one node's machine service.
func (id identity) machine(addr string) machinev1connect.MachineServiceClient {
	return machinev1connect.NewMachineServiceClient(id.httpClient(), "https://"+addr, connect.WithGRPC())
}

// security is a gRPC client for one node's security service.
func (id identity) security(addr string) securityv1connect.SecurityServiceClient {
	return securityv1connect.NewSecurityServiceClient(id.httpClient(), "https://"+addr, connect.WithGRPC())
}

// writePEMs writes the identity as dir/ca.pem, dir/NAME.pem and
// dir/NAME-key.pem for buf curl, and returns buf curl's TLS flags.
func (id identity) writePEMs(t testing.TB, dir, name string) []string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	ca, crt, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	for p, data := range map[string]string{ca: id.ca, crt: id.crt, key: id.key} {
		require.NoError(t, os.WriteFile(p, []byte(data), 0o600))
	}
	return []string{"--cacert", ca, "--cert", crt, "--key", key}
}
