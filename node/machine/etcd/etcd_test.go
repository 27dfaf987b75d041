package etcd_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/cairn-project/cairn/internal/etcdtest"
	"github.com/cairn-project/cairn/node/machine/etcd"
)

// The flags Args builds start a real cluster that serves a client with the
// cluster's client certificate and refuses one without it, and that has no
// plaintext port.
func TestArgsStartATLSOnlyCluster(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cli.Put(ctx, "k", "v")
	require.NoError(t, err)
	got, err := cli.Get(ctx, "k")
	require.NoError(t, err)
	require.Len(t, got.Kvs, 1)
	require.Equal(t, "v", string(got.Kvs[0].Value))
	list, err := cli.MemberList(ctx)
	require.NoError(t, err)
	require.Len(t, list.Members, 3)

	// Plaintext on the client port: the TLS listener does not answer HTTP.
	plain := &http.Client{Timeout: 2 * time.Second}
	resp, err := plain.Get("http://" + trimScheme(c.Members[0].ClientURL()) + "/health")
	if err == nil {
		_ = resp.Body.Close()
		require.NotEqual(t, http.StatusOK, resp.StatusCode, "plaintext /health answered")
	}
	// TLS that trusts the CA but presents no client certificate.
	noCert := c.ClientTLS(t).Clone()
	noCert.Certificates = nil
	refused, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), TLS: noCert, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err) // the dial is lazy
	defer refused.Close()
	short, cancelShort := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancelShort()
	_, err = refused.Get(short, "k")
	require.Error(t, err, "a client without a certificate was served")
	// Plaintext gRPC.
	plainGRPC, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + trimScheme(c.Members[0].ClientURL())}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer plainGRPC.Close()
	short2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	_, err = plainGRPC.Get(short2, "k")
	require.Error(t, err, "a plaintext client was served")
	_ = tls.VersionTLS12
}

func TestArgsRefuseWhatWouldBreakTheMember(t *testing.T) {
	base := etcd.Member{Name: "a", IP: "10.0.0.1", Layout: etcd.Layout{Dir: "/var/lib/etcd"}, State: etcd.StateNew, Token: "t"}
	base.InitialCluster = []etcd.Peer{{Name: "a", PeerURL: base.PeerURL()}}
	_, err := base.Args()
	require.NoError(t, err)
	for name, m := range map[string]func(m *etcd.Member){
		"no token":            func(m *etcd.Member) { m.Token = "" },
		"bad state":           func(m *etcd.Member) { m.State = "maybe" },
		"not in initial":      func(m *etcd.Member) { m.InitialCluster = []etcd.Peer{{Name: "b", PeerURL: "https://10.0.0.2:2380"}} },
		"extra overrides tls": func(m *etcd.Member) { m.ExtraArgs = map[string]string{"client-cert-auth": "false"} },
		"extra with dashes":   func(m *etcd.Member) { m.ExtraArgs = map[string]string{"--listen-client-urls": "http://0.0.0.0:2379"} },
		"no name":             func(m *etcd.Member) { m.Name = "" },
	} {
		t.Run(name, func(t *testing.T) {
			mm := base
			m(&mm)
			_, err := mm.Args()
			require.ErrorIs(t, err, etcd.ErrInvalidMember)
		})
	}
}

func trimScheme(u string) string { return u[len("https://"):] }
