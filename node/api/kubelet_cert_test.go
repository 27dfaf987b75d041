package api_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"net"
	"net/http"
	"net/netip"
	"strings"
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
	kubernetesv1 "github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
)

// roleMembers is a gossip view of alive nodes with their roles and API
// addresses, so a worker finds the control planes to forward to.
type roleMembers map[string]gossip.Member

func (m roleMembers) Members() []gossip.Member {
	var out []gossip.Member
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func (m roleMembers) Member(name string) (gossip.Member, bool) { v, ok := m[name]; return v, ok }

// kubeletCluster is a control plane cp1 holding the Kubernetes CA and two
// workers, w1 and w2, each serving the API with a real node certificate
// on loopback, and every node's config listing cp1, w1 and w2.
type kubeletCluster struct {
	ca, kubeCA config.CertKeyPair
	addrs      map[string]string
	state      *runtime.State // cp1's received config
}

func newKubeletCluster(t *testing.T, mutate func(name string, o *api.Options)) *kubeletCluster {
	t.Helper()
	ca, err := config.NewCA(nil, "test", time.Now())
	require.NoError(t, err)
	kubeCA, err := config.NewKubernetesCA(nil, "test", time.Now())
	require.NoError(t, err)
	k := &kubeletCluster{ca: ca, kubeCA: kubeCA, addrs: map[string]string{}}
	cfg := &config.Config{Nodes: []config.Node{{Name: "cp1", Role: config.RoleControlPlane}, {Name: "w1", Role: config.RoleWorker}, {Name: "w2", Role: config.RoleWorker}}}
	members := roleMembers{}
	listeners := map[string]net.Listener{}
	for _, n := range cfg.Nodes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		listeners[n.Name] = ln
		k.addrs[n.Name] = ln.Addr().String()
		role := gossip.RoleWorker
		if n.Role == config.RoleControlPlane {
			role = gossip.RoleControlPlane
		}
		members[n.Name] = gossip.Member{Name: n.Name, State: gossip.StateAlive,
			Meta: gossip.Meta{Name: n.Name, Role: role, APIAddr: netip.MustParseAddrPort(ln.Addr().String())}}
	}
	for _, n := range cfg.Nodes {
		st := runtime.NewState()
		_, err := st.Put(runtime.Resource{Type: controllers.TypeClusterConfig, ID: controllers.IDCluster, Spec: controllers.ClusterConfigSpec{Revision: 1, Config: cfg}})
		require.NoError(t, err)
		opts := api.Options{NodeName: n.Name, Identity: nodeIdentity(t, ca, n.Name), Membership: members, Resources: st, LeaderHold: time.Second}
		if n.Role == config.RoleControlPlane {
			k.state = st
			opts.ControlPlane, opts.KubeCA = true, &kubeCA
		}
		if mutate != nil {
			mutate(n.Name, &opts)
		}
		srv := api.New(opts)
		done := make(chan error, 1)
		go func() { done <- srv.Serve(listeners[n.Name]) }()
		t.Cleanup(func() {
			require.NoError(t, srv.Shutdown(context.Background()))
			require.NoError(t, <-done)
		})
	}
	return k
}

func nodeIdentity(t *testing.T, ca config.CertKeyPair, name string) *pki.Identity {
	t.Helper()
	key, csr, err := pki.NewKeyAndCSR(name, []net.IP{net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	crt, err := pki.SignNode(ca, csr, time.Now())
	require.NoError(t, err)
	id, err := pki.NewIdentity(crt, key, []byte(ca.Crt))
	require.NoError(t, err)
	return id
}

// client calls node at with a TLS client certificate: a node's own
// (caller "node:NAME") or an API client's with the role caller names.
// header, when set, is added to every request.
func (k *kubeletCluster) client(t *testing.T, caller, at string, header http.Header) kubernetesv1connect.KubernetesServiceClient {
	t.Helper()
	var tlsConfig *tls.Config
	if name, ok := strings.CutPrefix(caller, "node:"); ok {
		tlsConfig = nodeIdentity(t, k.ca, name).ClientTLS() // as the node calls
	} else {
		pair, err := config.GenerateAdminClientCert(k.ca, "test", []string{caller}, time.Hour)
		require.NoError(t, err)
		cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
		require.NoError(t, err)
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM([]byte(k.ca.Crt)))
		tlsConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	}
	tr := &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	var rt http.RoundTripper = tr
	if header != nil {
		rt = headerTransport{tr, header}
	}
	return kubernetesv1connect.NewKubernetesServiceClient(&http.Client{Transport: rt}, "https://"+k.addrs[at], connect.WithGRPC())
}

type headerTransport struct {
	http.RoundTripper
	h http.Header
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.h {
		r.Header[k] = v
	}
	return h.RoundTripper.RoundTrip(r)
}

// kubeletRequest is a CSR for subject with a new P-256 key.
func kubeletRequest(t *testing.T, subject pkix.Name) (*kubernetesv1.KubeletCertificateRequest, crypto.PublicKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, key)
	require.NoError(t, err)
	return &kubernetesv1.KubeletCertificateRequest{Csr: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})}, key.Public()
}

func kubeletOf(name string) pkix.Name {
	return pkix.Name{CommonName: pki.KubeNodeUserPrefix + name, Organization: []string{pki.KubeNodesGroup}}
}

// checkKubeletCert asserts res is node name's kubelet client certificate
// for pub, signed by the Kubernetes CA.
func (k *kubeletCluster) checkKubeletCert(t *testing.T, res *kubernetesv1.KubeletCertificateResponse, name string, pub crypto.PublicKey) {
	t.Helper()
	block, _ := pem.Decode(res.GetCrt())
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.Equal(t, "system:node:"+name, cert.Subject.CommonName)
	assert.Equal(t, []string{"system:nodes"}, cert.Subject.Organization)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
	assert.True(t, cert.PublicKey.(*ecdsa.PublicKey).Equal(pub), "for the CSR's key")
	assert.Equal(t, k.kubeCA.Crt, string(res.GetCa()))
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(res.GetCa()))
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err, "chains to the Kubernetes CA")
	assert.WithinDuration(t, time.Now().Add(pki.KubeValidity), cert.NotAfter, time.Minute)
	assert.Equal(t, cert.NotAfter, res.GetExpires().AsTime())
}

// A node gets its own kubelet certificate from a control plane directly,
// and from its own API on a worker, which forwards the call.
func TestKubeletCertificateForTheCallingNode(t *testing.T) {
	noLeaks(t)
	k := newKubeletCluster(t, nil)
	for name, tc := range map[string]struct{ node, at string }{
		"worker at the control plane":      {"w1", "cp1"},
		"worker through its own API":       {"w1", "w1"},
		"control plane at itself":          {"cp1", "cp1"},
		"the other worker through its own": {"w2", "w2"},
	} {
		t.Run(name, func(t *testing.T) {
			req, pub := kubeletRequest(t, kubeletOf(tc.node))
			res, err := k.client(t, "node:"+tc.node, tc.at, nil).KubeletCertificate(t.Context(), connect.NewRequest(req))
			require.NoError(t, err)
			k.checkKubeletCert(t, res.Msg, tc.node, pub)
		})
	}
}

// A node asks only for itself: another node's name, other groups or a
// call relayed (or forged to look relayed) for another node are refused
// where the CA is, and so are operators.
func TestKubeletCertificateRefusals(t *testing.T) {
	noLeaks(t)
	k := newKubeletCluster(t, nil)
	w2Cert := nodeIdentity(t, k.ca, "w2").Leaf()
	forged := http.Header{api.HeaderCallerCert: {base64.StdEncoding.EncodeToString(w2Cert.Raw)}}
	masters := kubeletOf("w1")
	masters.Organization = append(masters.Organization, pki.KubeAdminGroup)
	for name, tc := range map[string]struct {
		caller, at string
		header     http.Header
		subject    pkix.Name
		code       connect.Code
		message    string
	}{
		"another node's name":           {"node:w1", "cp1", nil, kubeletOf("w2"), connect.CodePermissionDenied, `"system:node:w2"`},
		"another node's name forwarded": {"node:w1", "w1", nil, kubeletOf("w2"), connect.CodePermissionDenied, `"system:node:w2"`},
		"system:masters":                {"node:w1", "cp1", nil, masters, connect.CodePermissionDenied, "system:masters"},
		"relayed by another worker":     {"node:w2", "w1", nil, kubeletOf("w2"), connect.CodePermissionDenied, "not relayed by w1 for w2"},
		"forged relay":                  {"node:w1", "cp1", forged, kubeletOf("w2"), connect.CodePermissionDenied, "not relayed by w1 for w2"},
		"admin":                         {config.APIRoleAdmin, "cp1", nil, kubeletOf("w1"), connect.CodePermissionDenied, "operators use Kubeconfig"},
		"admin at a worker":             {config.APIRoleAdmin, "w1", nil, kubeletOf("w1"), connect.CodePermissionDenied, "the caller has os:admin"},
		"reader":                        {config.APIRoleReader, "cp1", nil, kubeletOf("w1"), connect.CodePermissionDenied, "role os:node"},
		"no prefix":                     {"node:w1", "cp1", nil, pkix.Name{CommonName: "w1", Organization: []string{pki.KubeNodesGroup}}, connect.CodePermissionDenied, "may ask only"},
		"extra subject field":           {"node:w1", "w1", nil, pkix.Name{CommonName: "system:node:w1", Organization: []string{pki.KubeNodesGroup}, Country: []string{"NL"}}, connect.CodeInvalidArgument, "subject attribute"},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := kubeletRequest(t, tc.subject)
			_, err := k.client(t, tc.caller, tc.at, tc.header).KubeletCertificate(t.Context(), connect.NewRequest(req))
			assert.Equal(t, tc.code, connect.CodeOf(err), "%v", err)
			assert.ErrorContains(t, err, tc.message)
		})
	}
}

func TestKubeletCertificateBadCSR(t *testing.T) {
	noLeaks(t)
	k := newKubeletCluster(t, nil)
	good, _ := kubeletRequest(t, kubeletOf("w1"))
	block, _ := pem.Decode(good.GetCsr())
	der := append([]byte(nil), block.Bytes...)
	der[len(der)-5] ^= 0xff
	for name, tc := range map[string]struct {
		csr     []byte
		message string
	}{
		"empty":         {nil, "not a PEM certificate request"},
		"not a CSR":     {[]byte(k.kubeCA.Crt), "not a PEM certificate request"},
		"bad signature": {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), "signature"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, at := range []string{"cp1", "w1"} {
				_, err := k.client(t, "node:w1", at, nil).KubeletCertificate(t.Context(), connect.NewRequest(&kubernetesv1.KubeletCertificateRequest{Csr: tc.csr}))
				assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), at)
				assert.ErrorContains(t, err, tc.message, at)
			}
		})
	}
}

// Kubernetes disabled, no Kubernetes CA, a node the config does not list:
// nothing is signed, and a worker passes the control plane's answer on.
func TestKubeletCertificateNotServed(t *testing.T) {
	noLeaks(t)
	t.Run("kubernetes disabled", func(t *testing.T) {
		k := newKubeletCluster(t, nil)
		res, err := k.state.Get(controllers.TypeClusterConfig, controllers.IDCluster)
		require.NoError(t, err)
		cfg := *res.Spec.(controllers.ClusterConfigSpec).Config
		cfg.Cluster.Kubernetes.Disabled = true
		_, err = k.state.Put(runtime.Resource{Type: controllers.TypeClusterConfig, ID: controllers.IDCluster, Spec: controllers.ClusterConfigSpec{Revision: 2, Config: &cfg}})
		require.NoError(t, err)
		for _, at := range []string{"cp1", "w1"} {
			req, _ := kubeletRequest(t, kubeletOf("w1"))
			_, err = k.client(t, "node:w1", at, nil).KubeletCertificate(t.Context(), connect.NewRequest(req))
			assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), at)
			assert.ErrorContains(t, err, api.ErrKubernetesDisabled.Error(), at)
		}
	})
	t.Run("no kubernetes CA", func(t *testing.T) {
		k := newKubeletCluster(t, func(_ string, o *api.Options) { o.KubeCA = nil })
		req, _ := kubeletRequest(t, kubeletOf("w1"))
		_, err := k.client(t, "node:w1", "w1", nil).KubeletCertificate(t.Context(), connect.NewRequest(req))
		assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
		assert.ErrorContains(t, err, "holds no Kubernetes CA")
	})
	t.Run("node not in the config", func(t *testing.T) {
		k := newKubeletCluster(t, nil)
		req, _ := kubeletRequest(t, kubeletOf("w9"))
		_, err := k.client(t, "node:w9", "cp1", nil).KubeletCertificate(t.Context(), connect.NewRequest(req))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err))
		assert.ErrorContains(t, err, `node "w9" is not in the cluster config`)
	})
}
