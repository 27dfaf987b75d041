package node

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/pki"
	"github.com/cairn-project/cairn/node/runtime"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
)

// kubeletMembers is a fixed gossip view.
type kubeletMembers map[string]gossip.Member

func (m kubeletMembers) Members() []gossip.Member {
	var out []gossip.Member
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func (m kubeletMembers) Member(name string) (gossip.Member, bool) { v, ok := m[name]; return v, ok }

// kubeletAPIs serves the node API of control plane cp1 (with the
// Kubernetes CA) and worker w1 on loopback, with real node certificates,
// and returns the Kubernetes CA and a client per node that calls that
// node's own API as that node.
func kubeletAPIs(t *testing.T) (config.CertKeyPair, map[string]kubernetesv1connect.KubernetesServiceClient) {
	t.Helper()
	ca, err := config.NewCA(nil, "test", time.Now())
	require.NoError(t, err)
	kubeCA, err := config.NewKubernetesCA(nil, "test", time.Now())
	require.NoError(t, err)
	cfg := &config.Config{Nodes: []config.Node{{Name: "cp1", Role: config.RoleControlPlane}, {Name: "w1", Role: config.RoleWorker}}}
	members := kubeletMembers{}
	listeners := map[string]net.Listener{}
	for _, n := range cfg.Nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		listeners[n.Name] = ln
		role := gossip.RoleWorker
		if n.Role == config.RoleControlPlane {
			role = gossip.RoleControlPlane
		}
		members[n.Name] = gossip.Member{Name: n.Name, State: gossip.StateAlive,
			Meta: gossip.Meta{Name: n.Name, Role: role, APIAddr: netip.MustParseAddrPort(ln.Addr().String())}}
	}
	clients := map[string]kubernetesv1connect.KubernetesServiceClient{}
	for _, n := range cfg.Nodes {
		key, csr, err := pki.NewKeyAndCSR(n.Name, []net.IP{net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		crt, err := pki.SignNode(ca, csr, time.Now())
		require.NoError(t, err)
		id, err := pki.NewIdentity(crt, key, []byte(ca.Crt))
		require.NoError(t, err)
		st := runtime.NewState()
		_, err = st.Put(runtime.Resource{Type: controllers.TypeClusterConfig, ID: controllers.IDCluster, Spec: controllers.ClusterConfigSpec{Revision: 1, Config: cfg}})
		require.NoError(t, err)
		opts := api.Options{NodeName: n.Name, Identity: id, Membership: members, Resources: st, LeaderHold: time.Second}
		if n.Role == config.RoleControlPlane {
			opts.ControlPlane, opts.KubeCA = true, &kubeCA
		}
		srv := api.New(opts)
		ln := listeners[n.Name]
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		tr := &http.Transport{TLSClientConfig: id.ClientTLS(), ForceAttemptHTTP2: true}
		t.Cleanup(func() {
			tr.CloseIdleConnections()
			require.NoError(t, srv.Shutdown(context.Background()))
			require.NoError(t, <-done)
		})
		clients[n.Name] = kubernetesv1connect.NewKubernetesServiceClient(&http.Client{Transport: tr}, "https://"+ln.Addr().String(), connect.WithGRPC())
	}
	return kubeCA, clients
}

// Each node, a worker through its own API (forwarded to the control
// plane) included, gets its own kubelet certificate, for a key of its own,
// and the renewal rule keeps it until two thirds of its life are gone.
func TestRequestKubeletCert(t *testing.T) {
	kubeCA, clients := kubeletAPIs(t)
	for _, name := range []string{"w1", "cp1"} {
		t.Run(name, func(t *testing.T) {
			crt, key, ca, err := requestKubeletCert(t.Context(), clients[name], name)
			require.NoError(t, err)
			assert.Equal(t, kubeCA.Crt, string(ca))
			block, _ := pem.Decode(crt)
			require.NotNil(t, block)
			cert, err := x509.ParseCertificate(block.Bytes)
			require.NoError(t, err)
			assert.Equal(t, "system:node:"+name, cert.Subject.CommonName)
			assert.Equal(t, []string{"system:nodes"}, cert.Subject.Organization)

			now := time.Now()
			assert.True(t, kubeletCertCurrent(crt, key, ca, name, now))
			assert.True(t, kubeletCertCurrent(crt, key, ca, name, now.Add(pki.KubeValidity/2)))
			assert.False(t, kubeletCertCurrent(crt, key, ca, name, now.Add(pki.KubeValidity*2/3+time.Hour)), "due for renewal")
			assert.False(t, kubeletCertCurrent(crt, key, ca, "w9", now), "another node's")
			other, err := config.NewKubernetesCA(nil, "other", now)
			require.NoError(t, err)
			assert.False(t, kubeletCertCurrent(crt, key, []byte(other.Crt), name, now), "another CA")

			crt2, key2, _, err := requestKubeletCert(t.Context(), clients[name], name)
			require.NoError(t, err)
			assert.NotEqual(t, key, key2, "every request has a new key")
			assert.False(t, kubeletCertCurrent(crt, key2, ca, name, now), "a key of another certificate")
			assert.True(t, kubeletCertCurrent(crt2, key2, ca, name, now))
		})
	}
}

// A node that asks for another's name is refused by the control plane.
func TestRequestKubeletCertForAnotherNode(t *testing.T) {
	_, clients := kubeletAPIs(t)
	_, _, _, err := requestKubeletCert(t.Context(), clients["w1"], "cp1")
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
}

// An answer that is not what was asked for (another identity, another
// key, a certificate not from the CA sent along) is not taken.
func TestCheckKubeletCert(t *testing.T) {
	kubeCA, clients := kubeletAPIs(t)
	crt, key, ca, err := requestKubeletCert(t.Context(), clients["w1"], "w1")
	require.NoError(t, err)
	self := pkix.Name{CommonName: "system:node:w1", Organization: []string{"system:nodes"}}
	require.NoError(t, checkKubeletCert(crt, key, ca, self))

	assert.ErrorIs(t, checkKubeletCert(crt, key, ca, pkix.Name{CommonName: "system:node:w2", Organization: []string{"system:nodes"}}), errKubeletCertMismatch)
	_, key2, _, err := requestKubeletCert(t.Context(), clients["w1"], "w1")
	require.NoError(t, err)
	assert.ErrorIs(t, checkKubeletCert(crt, key2, ca, self), errKubeletCertMismatch)
	other, err := config.NewKubernetesCA(nil, "other", time.Now())
	require.NoError(t, err)
	assert.ErrorIs(t, checkKubeletCert(crt, key, []byte(other.Crt), self), errKubeletCertMismatch)
	assert.ErrorIs(t, checkKubeletCert(crt, key, nil, self), errKubeletCertMismatch)
	assert.Equal(t, kubeCA.Crt, string(ca))
}
