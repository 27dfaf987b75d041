package api_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/nodelog"
	"github.com/cairn-project/cairn/node/pki"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
	servicev1 "github.com/cairn-project/cairn/proto/gen/cairn/service/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
)

func newNodeLog(t *testing.T) (*nodelog.Log, *slog.Logger) {
	t.Helper()
	nl, err := nodelog.New(nodelog.Options{Level: slog.LevelInfo})
	require.NoError(t, err)
	return nl, slog.New(nl.Handler())
}

// logsOf reads a Logs stream that ends by itself.
func logsOf(t *testing.T, c servicev1connect.ServiceServiceClient, req *servicev1.LogsRequest) ([]string, error) {
	t.Helper()
	s, err := c.Logs(t.Context(), connect.NewRequest(req))
	require.NoError(t, err)
	defer s.Close()
	lines := readLines(t, s, 1<<20)
	return lines, s.Err()
}

func TestCairndIsServedAsAService(t *testing.T) {
	noLeaks(t)
	nl, log := newNodeLog(t)
	sup := runSupervisor(t, childService("etcd"))
	for name, c := range serviceClientsWith(t, sup, nl) {
		t.Run(name, func(t *testing.T) {
			for i := range 5 {
				log.Info("recent", "i", i)
			}
			two := int32(2)
			lines, err := logsOf(t, c, &servicev1.LogsRequest{Name: api.NodeLogName, TailLines: &two})
			require.NoError(t, err)
			require.Len(t, lines, 2)
			assert.Contains(t, lines[0], "i=3")
			assert.Contains(t, lines[1], "i=4")

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			zero := int32(0)
			s, err := c.Logs(ctx, connect.NewRequest(&servicev1.LogsRequest{Name: api.NodeLogName, Follow: true, TailLines: &zero}))
			require.NoError(t, err)
			defer s.Close()
			// The server subscribes before it flushes the headers, so once
			// they are here no later line can be missed.
			_ = s.ResponseHeader()
			log.Info("followed", "wire", name)
			got := readLines(t, s, 1)
			require.Len(t, got, 1, "follow ended: %v", s.Err())
			assert.Contains(t, got[0], "msg=followed")
			cancel()
			for s.Receive() {
			}

			names := []string{}
			for _, svc := range listServicesOrdered(t, c) {
				names = append(names, svc.GetName())
			}
			assert.Equal(t, []string{"cairnd", "etcd"}, names, "the node itself, in name order")
			self := listServices(t, c)["cairnd"]
			assert.Equal(t, servicev1.ServiceState_SERVICE_STATE_RUNNING, self.GetState())
			assert.Positive(t, self.GetPid())

			_, err = c.Restart(t.Context(), connect.NewRequest(&servicev1.RestartRequest{Name: api.NodeLogName}))
			assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))

			_, err = logsOf(t, c, &servicev1.LogsRequest{Name: "kubelet"})
			require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
			assert.Contains(t, err.Error(), "logs on this node: cairnd, etcd", "a miss names what there is")
		})
	}
}

func listServicesOrdered(t *testing.T, c servicev1connect.ServiceServiceClient) []*servicev1.Service {
	res, err := c.List(t.Context(), connect.NewRequest(&servicev1.ListRequest{}))
	require.NoError(t, err)
	return res.Msg.GetServices()
}

// tlsAPI runs a whole api.Server (roles checked, TLS) for opts, with a
// node identity from a fresh CA, and returns its address and a function
// minting clients with roles.
func tlsAPI(t testing.TB, opts api.Options) (string, func(roles ...string) *http.Client) {
	t.Helper()
	ca, err := config.NewCA(nil, "test", time.Now())
	require.NoError(t, err)
	key, csr, err := pki.NewKeyAndCSR("n1", []net.IP{net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	crt, err := pki.SignNode(ca, csr, time.Now())
	require.NoError(t, err)
	opts.Identity, err = pki.NewIdentity(crt, key, []byte(ca.Crt))
	require.NoError(t, err)
	opts.NodeName = "n1"
	srv := api.New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Shutdown(context.Background()))
		require.NoError(t, <-done)
	})
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM([]byte(ca.Crt)))
	client := func(roles ...string) *http.Client {
		pair, err := config.GenerateAdminClientCert(ca, "test", roles, time.Hour)
		require.NoError(t, err)
		cert, err := tls.X509KeyPair([]byte(pair.Crt), []byte(pair.Key))
		require.NoError(t, err)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	return ln.Addr().String(), client
}

func TestLogLevelRPCs(t *testing.T) {
	noLeaks(t)
	nl, log := newNodeLog(t)
	addr, client := tlsAPI(t, api.Options{Services: runSupervisor(t), NodeLog: nl, Logger: log})
	machine := func(role string) machinev1connect.MachineServiceClient {
		return machinev1connect.NewMachineServiceClient(client(role), "https://"+addr, connect.WithGRPC())
	}
	reader, operator := machine(config.APIRoleReader), machine(config.APIRoleOperator)
	set := func(c machinev1connect.MachineServiceClient, l machinev1.LogLevel) (*machinev1.SetLogLevelResponse, error) {
		res, err := c.SetLogLevel(t.Context(), connect.NewRequest(&machinev1.SetLogLevelRequest{Level: l}))
		if err != nil {
			return nil, err
		}
		return res.Msg, nil
	}

	got, err := reader.GetLogLevel(t.Context(), connect.NewRequest(&machinev1.GetLogLevelRequest{}))
	require.NoError(t, err, "a reader reads the level")
	assert.Equal(t, machinev1.LogLevel_LOG_LEVEL_INFO, got.Msg.GetLevel())
	assert.Equal(t, "n1", got.Msg.GetNodeName())

	_, err = set(reader, machinev1.LogLevel_LOG_LEVEL_DEBUG)
	require.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "a reader cannot set the level")
	_, err = set(operator, machinev1.LogLevel_LOG_LEVEL_UNSPECIFIED)
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))

	log.Debug("before", "probe", 1)
	res, err := set(operator, machinev1.LogLevel_LOG_LEVEL_DEBUG)
	require.NoError(t, err, "an operator sets the level")
	assert.Equal(t, machinev1.LogLevel_LOG_LEVEL_DEBUG, res.GetLevel())
	assert.Equal(t, machinev1.LogLevel_LOG_LEVEL_INFO, res.GetPreviousLevel())
	log.Debug("after", "probe", 2)

	svc := servicev1connect.NewServiceServiceClient(client(config.APIRoleReader), "https://"+addr, connect.WithGRPC())
	lines, err := logsOf(t, svc, &servicev1.LogsRequest{Name: api.NodeLogName})
	require.NoError(t, err, "a reader reads the node's log")
	all := strings.Join(lines, "\n")
	assert.NotContains(t, all, "msg=before")
	assert.Contains(t, all, `level=DEBUG msg=after`)
	assert.Contains(t, all, `msg="log level changed" component=api from=INFO to=DEBUG`)
	assert.Contains(t, all, `level=DEBUG msg="log stream opened" component=api name=cairnd`, "at debug a read shows itself")
}

func TestLogLevelWithoutNodeLogIsUnimplemented(t *testing.T) {
	noLeaks(t)
	addr, client := tlsAPI(t, api.Options{})
	c := machinev1connect.NewMachineServiceClient(client(config.APIRoleAdmin), "https://"+addr, connect.WithGRPC())
	_, err := c.GetLogLevel(t.Context(), connect.NewRequest(&machinev1.GetLogLevelRequest{}))
	assert.Equal(t, connect.CodeUnimplemented, connect.CodeOf(err))
	_, err = c.SetLogLevel(t.Context(), connect.NewRequest(&machinev1.SetLogLevelRequest{Level: machinev1.LogLevel_LOG_LEVEL_DEBUG}))
	assert.Equal(t, connect.CodeUnimplemented, connect.CodeOf(err))
}
