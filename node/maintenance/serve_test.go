package maintenance

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
	maintenancev1 "github.com/cairn-project/cairn/proto/gen/cairn/maintenance/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/maintenance/v1/maintenancev1connect"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// result is what Serve returned.
type result struct {
	cfg  []byte
	name string
	err  error
}

// serve starts Serve on 127.0.0.1:0 and returns its URL and the channel
// its result arrives on.
func serve(t *testing.T, ctx context.Context, o Options) (string, <-chan result) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o.Listener = ln
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	out := make(chan result, 1)
	go func() {
		cfg, name, err := Serve(ctx, o)
		out <- result{cfg, name, err}
	}()
	return "https://" + ln.Addr().String(), out
}

// insecureClient is what `cairnctl apply-config --insecure` uses: TLS
// without verification, HTTP/2.
func insecureClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func generate(t *testing.T, controlPlanes int) (*config.Config, []byte) {
	t.Helper()
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "maint", ControlPlanes: controlPlanes, LoopbackSubnet: 77})
	require.NoError(t, err)
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)
	return cfg, doc
}

// Refused configurations leave the machine in maintenance mode; the first
// valid one with an entry for it is what Serve returns, after the answer.
func TestServeTakesTheFirstValidConfig(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, out := serve(t, ctx, Options{Mode: "pid1", Hostname: "talos-abc", MACs: []string{"52:54:00:12:34:56"}})
	c := maintenancev1connect.NewMaintenanceServiceClient(insecureClient(t), url, connect.WithGRPC())
	cfg, doc := generate(t, 2)

	v, err := c.Version(ctx, connect.NewRequest(&maintenancev1.VersionRequest{}))
	require.NoError(t, err)
	assert.Equal(t, version.Version, v.Msg.GetVersion())
	assert.Equal(t, "pid1", v.Msg.GetMode())
	assert.Equal(t, "talos-abc", v.Msg.GetHostname())
	assert.Equal(t, []string{"52:54:00:12:34:56"}, v.Msg.GetHardwareAddresses())

	// Invalid: every violation with its field path, as ClusterService has.
	bad := *cfg
	bad.Nodes = append([]config.Node(nil), cfg.Nodes...)
	bad.Nodes[1].Kernel.Sysctls = map[string]string{"net ipv4": "1"}
	bad.Cluster.Name = "Not_A_Label"
	badDoc, err := bad.Marshal(false)
	require.NoError(t, err)
	_, err = c.ApplyConfig(ctx, connect.NewRequest(&maintenancev1.ApplyConfigRequest{Config: string(badDoc), NodeName: "cp2"}))
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%v", err)
	assert.Equal(t, []string{"cluster.name", `nodes[1].kernel.sysctls["net ipv4"]`}, violationFields(t, err))

	// Not a document at all.
	_, err = c.ApplyConfig(ctx, connect.NewRequest(&maintenancev1.ApplyConfigRequest{Config: ""}))
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%v", err)

	// Valid, but no entry is this machine: no name, and neither MAC nor
	// hostname matches.
	_, err = c.ApplyConfig(ctx, connect.NewRequest(&maintenancev1.ApplyConfigRequest{Config: string(doc)}))
	require.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "%v", err)
	assert.ErrorContains(t, err, "no node entry matches this machine")
	_, err = c.ApplyConfig(ctx, connect.NewRequest(&maintenancev1.ApplyConfigRequest{Config: string(doc), NodeName: "cp9"}))
	require.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "%v", err)

	// Valid, with this machine's entry named: answered, then returned.
	res, err := c.ApplyConfig(ctx, connect.NewRequest(&maintenancev1.ApplyConfigRequest{Config: string(doc), NodeName: "cp2"}))
	require.NoError(t, err)
	assert.Equal(t, "cp2", res.Msg.GetNodeName())
	assert.Equal(t, string(config.RoleControlPlane), res.Msg.GetRole())
	r := <-out
	require.NoError(t, r.err)
	assert.Equal(t, doc, r.cfg, "the document as sent")
	assert.Equal(t, "cp2", r.name)
}

// Without a name in the request, the machine's own boot name selects its
// entry, and failing that the match rules: here its MAC.
func TestServeMatchesThisMachine(t *testing.T) {
	cfg, _ := generate(t, 2)
	cfg.Nodes[1].Match.MAC = "52:54:00:AA:BB:CC"
	doc, err := cfg.Marshal(false)
	require.NoError(t, err)
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{NodeName: "cp1", MACs: []string{}}, "cp1"},
		{Options{MACs: []string{"52:54:00:aa:bb:cc"}}, "cp2"},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		url, out := serve(t, ctx, tc.opts)
		c := maintenancev1connect.NewMaintenanceServiceClient(insecureClient(t), url)
		res, err := c.ApplyConfig(ctx, connect.NewRequest(&maintenancev1.ApplyConfigRequest{Config: string(doc)}))
		require.NoError(t, err)
		assert.Equal(t, tc.want, res.Msg.GetNodeName())
		r := <-out
		require.NoError(t, r.err)
		assert.Equal(t, tc.want, r.name)
		cancel()
	}
}

// Nothing but the maintenance service (and health, reflection) is served.
func TestServeRefusesOtherServices(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	url, out := serve(t, ctx, Options{})
	hc := insecureClient(t)
	mc := machinev1connect.NewMachineServiceClient(hc, url, connect.WithGRPC())
	_, err := mc.Version(ctx, connect.NewRequest(&machinev1.VersionRequest{}))
	assert.Equal(t, connect.CodeUnimplemented, connect.CodeOf(err), "%v", err)
	mc = machinev1connect.NewMachineServiceClient(hc, url) // Connect protocol
	_, err = mc.Mounts(ctx, connect.NewRequest(&machinev1.MountsRequest{}))
	assert.Equal(t, connect.CodeUnimplemented, connect.CodeOf(err), "%v", err)

	cancel()
	r := <-out
	require.ErrorIs(t, r.err, context.Canceled)
	assert.Nil(t, r.cfg)
}

func violationFields(t *testing.T, err error) []string {
	t.Helper()
	var ce *connect.Error
	require.ErrorAs(t, err, &ce)
	for _, d := range ce.Details() {
		v, derr := d.Value()
		require.NoError(t, derr)
		if ve, ok := v.(*clusterv1.ValidationErrors); ok {
			var out []string
			for _, fv := range ve.GetViolations() {
				out = append(out, fv.GetField())
			}
			return out
		}
	}
	require.Fail(t, "no ValidationErrors detail", "%v", err)
	return nil
}

// The first accepted configuration wins; a later one is refused and does
// not replace it.
func TestApplyConfigOnce(t *testing.T) {
	_, doc := generate(t, 2)
	s := &service{opts: Options{}, log: slog.New(slog.DiscardHandler)}
	_, err := s.ApplyConfig(context.Background(), connect.NewRequest(&maintenancev1.ApplyConfigRequest{Config: string(doc), NodeName: "cp1"}))
	require.NoError(t, err)
	_, err = s.ApplyConfig(context.Background(), connect.NewRequest(&maintenancev1.ApplyConfigRequest{Config: string(doc), NodeName: "cp2"}))
	require.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err))
	require.ErrorIs(t, err, ErrAlreadyConfigured)
	got, ok := s.taken()
	require.True(t, ok)
	assert.Equal(t, "cp1", got.name)
}
