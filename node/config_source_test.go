package node

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/runtime"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
)

// upstream is a WatchConfig server whose config revision the test moves
// and whose connections it cuts.
type upstream struct {
	clusterv1connect.UnimplementedClusterServiceHandler
	doc string
	mu  sync.Mutex
	rev uint64
}

func (u *upstream) WatchConfig(ctx context.Context, _ *connect.Request[clusterv1.WatchConfigRequest], stream *connect.ServerStream[clusterv1.WatchConfigResponse]) error {
	u.mu.Lock()
	rev := u.rev
	u.mu.Unlock()
	if err := stream.Send(&clusterv1.WatchConfigResponse{Config: u.doc, Revision: rev}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// The config source's upstream connection is cut again and again, each
// time after a new revision: the runtime restarts the source with backoff,
// its failures show in ControllerStatus, and the revision it publishes
// catches up every time: the applied revision follows.
func TestConfigSourceRecoversFromACutUpstream(t *testing.T) {
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "cut", ControlPlanes: 1})
	require.NoError(t, err)
	doc, err := cfg.Marshal(true)
	require.NoError(t, err)
	up := &upstream{doc: string(doc), rev: 1}
	mux := http.NewServeMux()
	mux.Handle(clusterv1connect.NewClusterServiceHandler(up))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	st := runtime.NewState()
	rt := runtime.New(st, runtime.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BackoffInitial: time.Millisecond, BackoffMax: 20 * time.Millisecond})
	source := &configSource{
		log: slog.New(slog.DiscardHandler), apiAddr: srv.Listener.Addr().String(), self: cfg.Nodes[0].Name,
		tls: srv.Client().Transport.(*http.Transport).TLSClientConfig,
	}
	require.NoError(t, rt.RegisterSource(source))
	for _, c := range []runtime.Controller{
		&controllers.NetworkSpec{NodeName: cfg.Nodes[0].Name},
		&controllers.NetworkApply{Apply: false, Logger: slog.New(slog.DiscardHandler)},
		&controllers.ConfigStatus{Report: func(uint64) {}},
	} {
		require.NoError(t, rt.Register(c))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	// The applied revision: ConfigStatus, once the (planned) network
	// converged for the config the source published.
	published := func(ct require.TestingT) uint64 {
		r, err := st.Get(controllers.TypeConfigStatus, controllers.IDApplied)
		require.NoError(ct, err)
		spec, ok := r.Spec.(controllers.ConfigStatusSpec)
		require.True(ct, ok)
		return spec.Revision
	}
	const cuts = 5
	for i := range cuts {
		want := uint64(i + 1)
		require.EventuallyWithT(t, func(ct *assert.CollectT) { assert.Equal(ct, want, published(ct)) }, 10*time.Second, time.Millisecond)
		up.mu.Lock()
		up.rev = want + 1
		up.mu.Unlock()
		srv.CloseClientConnections()
	}
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Equal(ct, uint64(cuts+1), published(ct), "caught up after the last cut")
		r, err := st.Get(runtime.TypeControllerStatus, source.Name())
		require.NoError(ct, err)
		s := r.Spec.(runtime.ControllerStatusSpec)
		assert.Equal(ct, runtime.StateRunning, s.State)
		assert.GreaterOrEqual(ct, s.Failures, cuts, "every cut was a failure the runtime retried")
		assert.Contains(ct, s.LastError, "cluster config watch ended")
	}, 10*time.Second, time.Millisecond)
}
