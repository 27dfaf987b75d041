package api_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
	kubernetesv1 "github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
)

// fakeKubernetes hands out a kubeconfig naming itself, and records the
// lifetimes asked for; err, when set, is what it fails with instead.
type fakeKubernetes struct {
	name string
	now  time.Time
	err  error

	mu   sync.Mutex
	ttls []time.Duration
}

func (f *fakeKubernetes) AdminKubeconfig(_ context.Context, ttl time.Duration) ([]byte, string, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ttls = append(f.ttls, ttl)
	if f.err != nil {
		return nil, "", time.Time{}, f.err
	}
	return []byte("kubeconfig of " + f.name), "https://" + f.name + ":6443", f.now.Add(ttl), nil
}

func (f *fakeKubernetes) asked() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.ttls...)
}

func kubernetesClient(t *testing.T, opts api.Options) func(role string) kubernetesv1connect.KubernetesServiceClient {
	addr, client := tlsAPI(t, opts)
	return func(role string) kubernetesv1connect.KubernetesServiceClient {
		return kubernetesv1connect.NewKubernetesServiceClient(client(role), "https://"+addr, connect.WithGRPC())
	}
}

func TestKubeconfigIsForAdminsOnly(t *testing.T) {
	noLeaks(t)
	f := &fakeKubernetes{name: "cp1", now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	client := kubernetesClient(t, api.Options{Kubernetes: f})
	ctx := t.Context()

	for _, role := range []string{config.APIRoleReader, config.APIRoleOperator} {
		_, err := client(role).Kubeconfig(ctx, connect.NewRequest(&kubernetesv1.KubeconfigRequest{}))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), role)
		assert.ErrorContains(t, err, "Kubeconfig needs os:admin")
	}
	assert.Empty(t, f.asked(), "a refused caller gets no certificate minted")

	admin := client(config.APIRoleAdmin)
	res, err := admin.Kubeconfig(ctx, connect.NewRequest(&kubernetesv1.KubeconfigRequest{}))
	require.NoError(t, err)
	assert.Equal(t, []byte("kubeconfig of cp1"), res.Msg.GetKubeconfig())
	assert.Equal(t, "https://cp1:6443", res.Msg.GetServer())
	assert.Equal(t, f.now.Add(365*24*time.Hour), res.Msg.GetExpires().AsTime(), "a year without a ttl")

	res, err = admin.Kubeconfig(ctx, connect.NewRequest(&kubernetesv1.KubeconfigRequest{Ttl: durationpb.New(time.Hour)}))
	require.NoError(t, err)
	assert.Equal(t, f.now.Add(time.Hour), res.Msg.GetExpires().AsTime())
	assert.Equal(t, []time.Duration{365 * 24 * time.Hour, time.Hour}, f.asked())

	_, err = admin.Kubeconfig(ctx, connect.NewRequest(&kubernetesv1.KubeconfigRequest{Ttl: durationpb.New(-time.Hour)}))
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	assert.Len(t, f.asked(), 2, "a negative ttl is refused before anything is minted")
}

// A node without KubernetesOps (a worker, Kubernetes disabled) says where
// to go; the errors of the ops map to codes a client can act on.
func TestKubeconfigRefusals(t *testing.T) {
	noLeaks(t)
	for name, tc := range map[string]struct {
		ops     api.KubernetesOps
		code    connect.Code
		message string
	}{
		"no ops": {nil, connect.CodeFailedPrecondition, "ask a control plane"},
		"disabled since": {&fakeKubernetes{err: fmt.Errorf("mint: %w", api.ErrKubernetesDisabled)},
			connect.CodeFailedPrecondition, "kubernetes is disabled"},
		"ttl too long": {&fakeKubernetes{err: fmt.Errorf("%w: at most 8760h", api.ErrKubeconfigTTL)},
			connect.CodeInvalidArgument, "at most 8760h"},
		"coded": {&fakeKubernetes{err: connect.NewError(connect.CodeUnavailable, errors.New("kubernetes CA not loaded yet"))},
			connect.CodeUnavailable, "not loaded yet"},
		"other": {&fakeKubernetes{err: errors.New("disk on fire")}, connect.CodeInternal, "disk on fire"},
	} {
		t.Run(name, func(t *testing.T) {
			admin := kubernetesClient(t, api.Options{Kubernetes: tc.ops})(config.APIRoleAdmin)
			_, err := admin.Kubeconfig(t.Context(), connect.NewRequest(&kubernetesv1.KubeconfigRequest{}))
			assert.Equal(t, tc.code, connect.CodeOf(err))
			assert.ErrorContains(t, err, tc.message)
		})
	}
}

func TestReflectionListsTheKubernetesService(t *testing.T) {
	noLeaks(t)
	addr, client := tlsAPI(t, api.Options{})
	stream := grpcreflect.NewClient(client(config.APIRoleReader), "https://"+addr, connect.WithGRPC()).NewStream(t.Context())
	t.Cleanup(func() { _, _ = stream.Close() })

	names, err := stream.ListServices()

	require.NoError(t, err)
	assert.Contains(t, names, protoreflect.FullName(kubernetesv1connect.KubernetesServiceName))
}

// cairnctl -n cp2 kubeconfig: the endpoint (a worker without ops) proxies
// the call to the named control plane, the admin's role travelling with
// it.
func TestKubeconfigIsProxiedToTheNamedNode(t *testing.T) {
	noLeaks(t)
	ca, err := config.NewCA(nil, "test", time.Now())
	require.NoError(t, err)
	listeners := map[string]net.Listener{}
	members := staticMembers{}
	for _, name := range []string{"worker1", "cp2"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		listeners[name] = ln
		members[name] = netip.MustParseAddrPort(ln.Addr().String())
	}
	cp2 := &fakeKubernetes{name: "cp2", now: time.Now()}
	for name, ops := range map[string]api.KubernetesOps{"worker1": nil, "cp2": cp2} {
		key, csr, err := pki.NewKeyAndCSR(name, []net.IP{net.IPv4(127, 0, 0, 1)})
		require.NoError(t, err)
		crt, err := pki.SignNode(ca, csr, time.Now())
		require.NoError(t, err)
		id, err := pki.NewIdentity(crt, key, []byte(ca.Crt))
		require.NoError(t, err)
		srv := api.New(api.Options{NodeName: name, Identity: id, Membership: members, Kubernetes: ops})
		done := make(chan error, 1)
		go func() { done <- srv.Serve(listeners[name]) }()
		t.Cleanup(func() {
			require.NoError(t, srv.Shutdown(context.Background()))
			require.NoError(t, <-done)
		})
	}
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(ca.Crt)))
	client := func(role string) kubernetesv1connect.KubernetesServiceClient {
		pair, err := config.GenerateAdminClientCert(ca, "test", []string{role}, time.Hour)
		require.NoError(t, err)
		cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
		require.NoError(t, err)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return kubernetesv1connect.NewKubernetesServiceClient(&http.Client{Transport: tr}, "https://"+members["worker1"].String(), connect.WithGRPC())
	}

	req := connect.NewRequest(&kubernetesv1.KubeconfigRequest{})
	_, err = client(config.APIRoleAdmin).Kubeconfig(t.Context(), req)
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "the worker itself hands out none")

	req.Header().Set(api.HeaderNode, "cp2")
	_, err = client(config.APIRoleReader).Kubeconfig(t.Context(), req)
	assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "the reader's role travels with the call")
	res, err := client(config.APIRoleAdmin).Kubeconfig(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, []byte("kubeconfig of cp2"), res.Msg.GetKubeconfig())
	assert.Len(t, cp2.asked(), 1)
}
