package node

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	securityv1 "github.com/cairn-project/cairn/proto/gen/cairn/security/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/security/v1/securityv1connect"
	servicev1 "github.com/cairn-project/cairn/proto/gen/cairn/service/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
)

// TestAuthorization checks the role table end to end on a real 1+1
// cluster: who may call what, directly and through a worker.
func TestAuthorization(t *testing.T) {
	cfg := startNodes(t, 1, 1)
	cp, worker := cfg.Nodes[0], cfg.Nodes[1]
	cluster := func(hc any, addr string) clusterv1connect.ClusterServiceClient {
		return clusterv1connect.NewClusterServiceClient(hc.(connect.HTTPClient), "https://"+addr, connect.WithGRPC())
	}
	admin := clientFor(t, cfg, config.APIRoleAdmin)
	reader := clientFor(t, cfg, config.APIRoleReader)
	operator := clientFor(t, cfg, config.APIRoleOperator)
	anonymous := clientFor(t, cfg)

	var cur *clusterv1.GetConfigResponse
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		res, err := cluster(admin, worker.APIEndpoint()).GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{}))
		require.NoError(ct, err)
		cur = res.Msg
	}, 20*time.Second, 20*time.Millisecond)
	apply := connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: cur.Config, DryRun: true})

	for _, addr := range []string{cp.APIEndpoint(), worker.APIEndpoint()} {
		_, err := cluster(anonymous, addr).GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{}))
		assert.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err), "no client certificate at %s", addr)

		_, err = cluster(reader, addr).GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{}))
		assert.NoError(t, err, "a reader reads at %s (forwarded from the worker)", addr)
		_, err = cluster(reader, addr).ApplyConfig(context.Background(), apply)
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "reader ApplyConfig at %s", addr)
		_, err = cluster(reader, addr).GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{IncludeSecrets: true}))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "reader secrets at %s", addr)
		_, err = cluster(admin, addr).ApplyConfig(context.Background(), apply)
		assert.NoError(t, err, "admin ApplyConfig at %s", addr)
	}

	// A reader cannot pass itself off as relaying an admin: only node
	// certificates relay callers.
	req := connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: cur.Config, DryRun: true})
	req.Header().Set("Cairn-Caller-Certificate", base64.StdEncoding.EncodeToString(clientCert(t, cfg, config.APIRoleAdmin).Leaf.Raw))
	_, err := cluster(reader, cp.APIEndpoint()).ApplyConfig(context.Background(), req)
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))

	// Secrets: an admin sees them, by asking.
	res, err := cluster(admin, cp.APIEndpoint()).GetConfig(context.Background(), connect.NewRequest(&clusterv1.GetConfigRequest{IncludeSecrets: true}))
	require.NoError(t, err)
	assert.Contains(t, res.Msg.Config, cfg.Secrets.JoinToken)
	assert.NotContains(t, cur.Config, cfg.Secrets.JoinToken)

	sec := func(hc connect.HTTPClient) securityv1connect.SecurityServiceClient {
		return securityv1connect.NewSecurityServiceClient(hc, "https://"+cp.APIEndpoint())
	}
	_, err = sec(operator).GenerateClientConfig(context.Background(), connect.NewRequest(&securityv1.GenerateClientConfigRequest{Roles: []string{config.APIRoleReader}}))
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "operator calling an admin RPC")
	gen, err := sec(admin).GenerateClientConfig(context.Background(), connect.NewRequest(&securityv1.GenerateClientConfigRequest{Roles: []string{config.APIRoleReader}, Name: "ci"}))
	require.NoError(t, err)
	minted, err := tls.X509KeyPair(gen.Msg.Crt, gen.Msg.Key)
	require.NoError(t, err)
	assert.Equal(t, []string{config.APIRoleReader}, pki.Roles(minted.Leaf))

	// Operational actions need an operator; reading the list a reader.
	svc := func(hc connect.HTTPClient) servicev1connect.ServiceServiceClient {
		return servicev1connect.NewServiceServiceClient(hc, "https://"+worker.APIEndpoint())
	}
	_, err = svc(reader).List(context.Background(), connect.NewRequest(&servicev1.ListRequest{}))
	assert.NoError(t, err)
	_, err = svc(reader).Restart(context.Background(), connect.NewRequest(&servicev1.RestartRequest{Name: "kubelet"}))
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "reader restarting a service")
	_, err = svc(operator).Restart(context.Background(), connect.NewRequest(&servicev1.RestartRequest{Name: "kubelet"}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err), "an operator may restart; this node runs no kubelet yet")

	// A node without the join token gets no certificate; with it, only a
	// node the config lists, and only for its own addresses.
	workerIP := net.ParseIP(strings.Split(worker.APIEndpoint(), ":")[0])
	nodeKey, csr, err := pki.NewKeyAndCSR(worker.Name, []net.IP{workerIP})
	require.NoError(t, err)
	_, err = sec(anonymous).Certificate(context.Background(), connect.NewRequest(&securityv1.CertificateRequest{Csr: csr, Token: "abcdef.0123456789abcdef"}))
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "wrong token")
	_, rogue, err := pki.NewKeyAndCSR("rogue", []net.IP{workerIP})
	require.NoError(t, err)
	_, err = sec(anonymous).Certificate(context.Background(), connect.NewRequest(&securityv1.CertificateRequest{Csr: rogue, Token: cfg.Secrets.JoinToken}))
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "a name the config does not list")
	_, stolenIP, err := pki.NewKeyAndCSR(worker.Name, []net.IP{net.ParseIP("192.0.2.9")})
	require.NoError(t, err)
	_, err = sec(anonymous).Certificate(context.Background(), connect.NewRequest(&securityv1.CertificateRequest{Csr: stolenIP, Token: cfg.Secrets.JoinToken}))
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "an address that is not the node's")
	issued, err := sec(anonymous).Certificate(context.Background(), connect.NewRequest(&securityv1.CertificateRequest{Csr: csr, Token: cfg.Secrets.JoinToken}))
	require.NoError(t, err, "with the token, for a listed node")

	// A node certificate relays callers; it cannot invent them.
	nodeCert, err := tls.X509KeyPair(issued.Msg.Crt, nodeKey)
	require.NoError(t, err)
	asNode := clientWith(t, cfg, nodeCert)
	relay := func(header string) error {
		req := connect.NewRequest(&clusterv1.ApplyConfigRequest{Config: cur.Config, DryRun: true})
		if header != "" {
			req.Header().Set("Cairn-Caller-Certificate", header)
		}
		_, err := cluster(asNode, cp.APIEndpoint()).ApplyConfig(context.Background(), req)
		return err
	}
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(relay("")), "a node on its own behalf only reads")
	readerCert := clientCert(t, cfg, config.APIRoleReader)
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(relay(base64.StdEncoding.EncodeToString(readerCert.Leaf.Raw))), "a relayed reader stays a reader")
	forged := selfSignedAdmin(t)
	assert.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(relay(base64.StdEncoding.EncodeToString(forged))), "a made-up admin is refused")
	adminCert := clientCert(t, cfg, config.APIRoleAdmin)
	assert.NoError(t, relay(base64.StdEncoding.EncodeToString(adminCert.Leaf.Raw)), "a relayed admin acts as admin")
}

// selfSignedAdmin returns a certificate claiming os:admin that no cluster CA signed.
func selfSignedAdmin(t *testing.T) []byte {
	other, err := config.NewCA(nil, "other", time.Now())
	require.NoError(t, err)
	pair, err := config.GenerateAdminClientCert(other, "mallory", []string{config.APIRoleAdmin}, time.Hour)
	require.NoError(t, err)
	cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
	require.NoError(t, err)
	return cert.Leaf.Raw
}
