package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/machine/supervisor/supervisortest"
	servicev1 "github.com/cairn-project/cairn/proto/gen/cairn/service/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/service/v1/servicev1connect"
)

// init lets this test binary double as a supervised program: re-executed
// with supervisortest.EnvChild set, it plays the program and exits before
// any test runs. An init function, not TestMain, so the package's tests
// keep whatever TestMain they have.
func init() { supervisortest.Main() }

const serviceWait = 15 * time.Second

// childService is a service running this test binary as the supervisortest
// program with args.
func childService(name string, args ...string) supervisor.Spec {
	return supervisor.Spec{
		Name: name, Path: supervisortest.Path(), Env: supervisortest.Env(), Args: args,
		Backoff: supervisor.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
	}
}

// runSupervisor runs a supervisor over specs until the test ends.
func runSupervisor(t *testing.T, specs ...supervisor.Spec) *supervisor.Supervisor {
	t.Helper()
	sup := supervisor.New(supervisor.Options{LogDir: t.TempDir()})
	for _, s := range specs {
		require.NoError(t, sup.Add(s))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return sup
}

// serviceClients serves the handler over sup in-process and returns one
// client per wire: Connect over HTTP/1.1 and gRPC over h2c.
func serviceClients(t *testing.T, sup *supervisor.Supervisor) map[string]servicev1connect.ServiceServiceClient {
	t.Helper()
	return serviceClientsWith(t, sup, nil)
}

// serviceClientsWith is serviceClients serving nodeLog as well.
func serviceClientsWith(t *testing.T, sup *supervisor.Supervisor, nodeLog api.NodeLog) map[string]servicev1connect.ServiceServiceClient {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(api.NewServiceHandler(sup, api.ServiceHandlerOptions{NodeLog: nodeLog}))
	h1 := httptest.NewServer(mux)
	t.Cleanup(h1.Close)
	h2 := httptest.NewUnstartedServer(mux)
	h2.Config.Protocols = new(http.Protocols)
	h2.Config.Protocols.SetUnencryptedHTTP2(true)
	h2.Start()
	t.Cleanup(h2.Close)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return map[string]servicev1connect.ServiceServiceClient{
		"connect-http1": servicev1connect.NewServiceServiceClient(h1.Client(), h1.URL),
		"grpc-h2c":      servicev1connect.NewServiceServiceClient(&http.Client{Transport: tr}, h2.URL, connect.WithGRPC()),
	}
}

// noLeaks fails t if goroutines it started outlive it; registered first,
// it runs after every other cleanup.
func noLeaks(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt, testutil.SpawnerLeak) })
}

// listServices returns the services by name.
func listServices(t require.TestingT, c servicev1connect.ServiceServiceClient) map[string]*servicev1.Service {
	res, err := c.List(context.Background(), connect.NewRequest(&servicev1.ListRequest{}))
	require.NoError(t, err)
	out := map[string]*servicev1.Service{}
	for _, s := range res.Msg.GetServices() {
		out[s.GetName()] = s
	}
	return out
}

func TestServiceListAndRestart(t *testing.T) {
	noLeaks(t)
	failing := childService("beta", "exit=3")
	failing.Restart = supervisor.RestartOnce
	sup := runSupervisor(t, childService("alpha"), failing)
	for name, c := range serviceClients(t, sup) {
		t.Run(name, func(t *testing.T) {
			var alpha *servicev1.Service
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				got := listServices(ct, c)
				alpha = got["alpha"]
				assert.Equal(ct, servicev1.ServiceState_SERVICE_STATE_RUNNING, alpha.GetState())
				assert.Equal(ct, servicev1.ServiceState_SERVICE_STATE_FAILED, got["beta"].GetState())
			}, serviceWait, 5*time.Millisecond)
			require.Positive(t, alpha.GetPid())
			require.Empty(t, alpha.GetHealth())
			require.WithinDuration(t, time.Now(), alpha.GetSince().AsTime(), serviceWait)

			res, err := c.List(t.Context(), connect.NewRequest(&servicev1.ListRequest{}))
			require.NoError(t, err)
			require.Len(t, res.Msg.GetServices(), 2)
			require.Equal(t, "alpha", res.Msg.GetServices()[0].GetName(), "ordered by name")
			beta := res.Msg.GetServices()[1]
			require.Equal(t, int32(3), beta.GetLastExitCode())
			require.Equal(t, "exited with code 3", beta.GetMessage())
			require.Zero(t, beta.GetPid())

			_, err = c.Restart(t.Context(), connect.NewRequest(&servicev1.RestartRequest{Name: "alpha"}))
			require.NoError(t, err)
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				now := listServices(ct, c)["alpha"]
				assert.Equal(ct, servicev1.ServiceState_SERVICE_STATE_RUNNING, now.GetState())
				assert.NotEqual(ct, alpha.GetPid(), now.GetPid())
				assert.Equal(ct, alpha.GetRestarts()+1, now.GetRestarts())
			}, serviceWait, 5*time.Millisecond)

			_, err = c.Restart(t.Context(), connect.NewRequest(&servicev1.RestartRequest{Name: "nope"}))
			require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
			_, err = c.Restart(t.Context(), connect.NewRequest(&servicev1.RestartRequest{}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
		})
	}
}

// readLines receives batches until n lines have arrived or the stream ends.
func readLines(t *testing.T, s *connect.ServerStreamForClient[servicev1.LogsResponse], n int) []string {
	t.Helper()
	var out []string
	for len(out) < n && s.Receive() {
		out = append(out, s.Msg().GetLines()...)
	}
	return out
}

func TestServiceLogs(t *testing.T) {
	noLeaks(t)
	sup := runSupervisor(t, childService("talker", "print=one", "print=two", "stderr=three"),
		childService("ticker", "tick=10ms"))
	for name, c := range serviceClients(t, sup) {
		t.Run(name, func(t *testing.T) {
			tail := func(n *int32) []string {
				s, err := c.Logs(t.Context(), connect.NewRequest(&servicev1.LogsRequest{Name: "talker", TailLines: n}))
				require.NoError(t, err)
				defer s.Close()
				lines := readLines(t, s, 1000)
				require.NoError(t, s.Err())
				return lines
			}
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				assert.Equal(ct, []string{"one", "two", "three"}, tail(nil))
			}, serviceWait, 5*time.Millisecond)
			two, zero := int32(2), int32(0)
			require.Equal(t, []string{"two", "three"}, tail(&two))
			require.Empty(t, tail(&zero))

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			s, err := c.Logs(ctx, connect.NewRequest(&servicev1.LogsRequest{Name: "ticker", Follow: true, TailLines: &zero}))
			require.NoError(t, err)
			defer s.Close()
			lines := readLines(t, s, 3)
			require.GreaterOrEqual(t, len(lines), 3, "follow ended: %v", s.Err())
			for _, l := range lines {
				require.True(t, strings.HasPrefix(l, "tick "), "line %q", l)
			}
			cancel()
			for s.Receive() {
			}
			require.Equal(t, connect.CodeCanceled, connect.CodeOf(s.Err()))

			missing, err := c.Logs(t.Context(), connect.NewRequest(&servicev1.LogsRequest{Name: "nope"}))
			require.NoError(t, err)
			defer missing.Close()
			require.False(t, missing.Receive())
			require.Equal(t, connect.CodeNotFound, connect.CodeOf(missing.Err()))
		})
	}
}
