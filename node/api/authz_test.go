package api

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
)

func TestPermissionDeniedNamesTheRoleNeededAndTheCallers(t *testing.T) {
	ca, err := config.NewCA(rand.Reader, "test", time.Now())
	require.NoError(t, err)
	caCert, _, err := config.ParseCA(ca)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	call := func(procedure string, roles ...string) *connect.Error {
		pair, err := config.GenerateAdminClientCert(ca, "test", roles, time.Hour)
		require.NoError(t, err)
		cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodPost, procedure, nil)
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}
		_, cerr := authenticate(r, roots)
		return cerr
	}

	denied := call(clusterv1connect.ClusterServiceApplyConfigProcedure, config.APIRoleReader)
	require.NotNil(t, denied)
	assert.Equal(t, connect.CodePermissionDenied, denied.Code())
	assert.Equal(t, "permission denied: ApplyConfig needs os:admin; the caller has os:reader", denied.Message())

	denied = call(servicev1connect.ServiceServiceRestartProcedure, config.APIRoleReader)
	require.NotNil(t, denied)
	assert.Equal(t, "permission denied: Restart needs os:operator; the caller has os:reader", denied.Message())

	assert.Nil(t, call(servicev1connect.ServiceServiceRestartProcedure, config.APIRoleOperator))

	// A kubeconfig is a cluster-admin credential: admins only.
	denied = call(kubernetesv1connect.KubernetesServiceKubeconfigProcedure, config.APIRoleOperator, config.APIRoleReader)
	require.NotNil(t, denied)
	assert.Equal(t, "permission denied: Kubeconfig needs os:admin; the caller has os:operator, os:reader", denied.Message())
	assert.Nil(t, call(kubernetesv1connect.KubernetesServiceKubeconfigProcedure, config.APIRoleAdmin))
}
