package api_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/kmsg"
	"github.com/cairn-project/cairn/node/machine/power"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
)

// fakePower records what the API asked of the node.
type fakePower struct {
	mu       sync.Mutex
	requests []power.Request
	leaves   int
	leaveErr error
}

func (p *fakePower) Stop(r *power.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, *r)
}

func (p *fakePower) LeaveGossip(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leaves++
	return p.leaveErr
}

func (p *fakePower) seen() ([]power.Request, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]power.Request(nil), p.requests...), p.leaves
}

func boolp(b bool) *bool { return &b }

func TestPowerAndDmesgRoles(t *testing.T) {
	noLeaks(t)
	p := &fakePower{}
	opts := api.Options{Power: p, Kmsg: filepath.Join(t.TempDir(), "no-kmsg"), Host: api.Host{Root: os.DirFS(fakeRoot(t, hostFiles))}}
	addr, client := tlsAPI(t, opts)
	reader := machinev1connect.NewMachineServiceClient(client(config.APIRoleReader), "https://"+addr, connect.WithGRPC())
	operator := machinev1connect.NewMachineServiceClient(client(config.APIRoleOperator), "https://"+addr, connect.WithGRPC())

	for name, c := range map[string]machinev1connect.MachineServiceClient{"reader": reader, "operator": operator} {
		_, err := c.Reboot(t.Context(), connect.NewRequest(&machinev1.RebootRequest{}))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "Reboot as %s", name)
		assert.ErrorContains(t, err, "Reboot needs os:admin")
		_, err = c.Shutdown(t.Context(), connect.NewRequest(&machinev1.ShutdownRequest{}))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "Shutdown as %s", name)
		_, err = c.Reset(t.Context(), connect.NewRequest(&machinev1.ResetRequest{}))
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(err), "Reset as %s", name)
		s, err := c.Read(t.Context(), connect.NewRequest(&machinev1.ReadRequest{Path: "/etc/hostname"}))
		require.NoError(t, err)
		for s.Receive() {
		}
		assert.Equal(t, connect.CodePermissionDenied, connect.CodeOf(s.Err()), "Read as %s", name)
		_ = s.Close()
	}
	requests, _ := p.seen()
	assert.Empty(t, requests, "nothing refused reached the node")

	// A reader may read the kernel's messages: past the role check, this
	// node has no /dev/kmsg and says so.
	s, err := reader.Dmesg(t.Context(), connect.NewRequest(&machinev1.DmesgRequest{}))
	require.NoError(t, err)
	for s.Receive() {
	}
	assert.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(s.Err()))
	assert.ErrorContains(t, s.Err(), "the kernel message buffer (/dev/kmsg) cannot be read")
	_ = s.Close()
}

func TestRebootAndShutdownAnswerThenAskTheNodeToStop(t *testing.T) {
	noLeaks(t)
	p := &fakePower{}
	c := machineClient(t, api.Options{Power: p, BootID: "boot-1"}, config.APIRoleAdmin)

	res, err := c.Reboot(t.Context(), connect.NewRequest(&machinev1.RebootRequest{}))
	require.NoError(t, err)
	assert.Equal(t, "n1", res.Msg.GetNodeName())
	assert.Equal(t, "boot-1", res.Msg.GetBootId(), "the boot the reboot ends")
	sd, err := c.Shutdown(t.Context(), connect.NewRequest(&machinev1.ShutdownRequest{}))
	require.NoError(t, err)
	assert.Equal(t, "boot-1", sd.Msg.GetBootId())

	requests, leaves := p.seen()
	require.Len(t, requests, 2)
	assert.Equal(t, power.Reboot, requests[0].Action)
	assert.False(t, requests[0].Reset)
	assert.Contains(t, requests[0].Reason, "os:admin", "the reason names who asked")
	assert.Equal(t, power.Poweroff, requests[1].Action)
	assert.Zero(t, leaves, "a reboot does not leave the cluster")

	v, err := c.Version(t.Context(), connect.NewRequest(&machinev1.VersionRequest{}))
	require.NoError(t, err)
	assert.Equal(t, "boot-1", v.Msg.GetBootId())
}

func TestResetOfAWorkerLeavesGossipUnlessNotGraceful(t *testing.T) {
	noLeaks(t)
	p := &fakePower{}
	c := machineClient(t, api.Options{Power: p, BootID: "boot-1", StateID: "0123456789ab"}, config.APIRoleAdmin)

	res, err := c.Reset(t.Context(), connect.NewRequest(&machinev1.ResetRequest{}))
	require.NoError(t, err)
	assert.Equal(t, "0123456789ab", res.Msg.GetStateId())
	assert.False(t, res.Msg.GetLeftRaft(), "a worker is no raft server")
	assert.True(t, res.Msg.GetLeftGossip())
	requests, leaves := p.seen()
	require.Len(t, requests, 1)
	assert.Equal(t, power.Request{Action: power.Reboot, Reset: true, Reason: requests[0].Reason}, requests[0], "unset options: graceful, then reboot")
	assert.Equal(t, 1, leaves)

	res, err = c.Reset(t.Context(), connect.NewRequest(&machinev1.ResetRequest{Graceful: boolp(false), Reboot: boolp(false)}))
	require.NoError(t, err)
	assert.False(t, res.Msg.GetLeftGossip())
	requests, leaves = p.seen()
	require.Len(t, requests, 2)
	assert.Equal(t, power.Poweroff, requests[1].Action)
	assert.True(t, requests[1].Reset)
	assert.Equal(t, 1, leaves, "not graceful: no leave")

	// A leave that fails does not stop the reset: the others notice the
	// node gone all the same.
	p.mu.Lock()
	p.leaveErr = errors.New("gossip is down")
	p.mu.Unlock()
	res, err = c.Reset(t.Context(), connect.NewRequest(&machinev1.ResetRequest{}))
	require.NoError(t, err)
	assert.False(t, res.Msg.GetLeftGossip())
}

func TestPowerWithoutANodeIsUnimplemented(t *testing.T) {
	noLeaks(t)
	c := machineClient(t, api.Options{}, config.APIRoleAdmin)
	_, err := c.Reboot(t.Context(), connect.NewRequest(&machinev1.RebootRequest{}))
	assert.Equal(t, connect.CodeUnimplemented, connect.CodeOf(err))
	_, err = c.Reset(t.Context(), connect.NewRequest(&machinev1.ResetRequest{}))
	assert.Equal(t, connect.CodeUnimplemented, connect.CodeOf(err))
}

// Dmesg of the real /dev/kmsg, which CI (root) can read.
func TestDmesgStreamsTheRealKernelBuffer(t *testing.T) {
	noLeaks(t)
	r, err := kmsg.Open(kmsg.Path)
	if errors.Is(err, kmsg.ErrUnavailable) && os.Getenv("CI") == "" {
		t.Skipf("%v (CI, which runs as root, must read it)", err)
	}
	require.NoError(t, err)
	require.NoError(t, r.Close())

	c := machineClient(t, api.Options{}, config.APIRoleReader)
	s, err := c.Dmesg(t.Context(), connect.NewRequest(&machinev1.DmesgRequest{}))
	require.NoError(t, err)
	var msgs []*machinev1.KernelMessage
	for s.Receive() {
		msgs = append(msgs, s.Msg().GetMessages()...)
	}
	require.NoError(t, s.Err())
	require.NotEmpty(t, msgs)
	for i := 1; i < len(msgs); i++ {
		assert.Greater(t, msgs[i].GetSequence(), msgs[i-1].GetSequence())
	}

	// Following, the stream stays open past the end and ends with the
	// call.
	ctx, cancel := context.WithCancel(t.Context())
	f, err := c.Dmesg(ctx, connect.NewRequest(&machinev1.DmesgRequest{Follow: true}))
	require.NoError(t, err)
	require.True(t, f.Receive(), "the buffer first")
	cancel()
	for f.Receive() {
	}
	assert.Equal(t, connect.CodeCanceled, connect.CodeOf(f.Err()))
	_ = f.Close()
}

// A graceful reset of a control plane leaves etcd first; when leaving
// would cost etcd its quorum, the reset is refused and nothing changes.
func TestResetThatWouldBreakEtcdQuorumIsRefused(t *testing.T) {
	noLeaks(t)
	p := &fakePower{}
	e := newFakeEtcd(t)
	e.healthy = 0 // the other two voters are down
	c := machineClient(t, api.Options{Power: p, ControlPlane: true, Etcd: e}, config.APIRoleAdmin)

	_, err := c.Reset(t.Context(), connect.NewRequest(&machinev1.ResetRequest{}))
	require.Equal(t, connect.CodeFailedPrecondition, connect.CodeOf(err), "%v", err)
	assert.ErrorContains(t, err, "reset refused, nothing changed: leave etcd")
	requests, leaves := p.seen()
	assert.Empty(t, requests, "the node was not asked to stop")
	assert.Zero(t, leaves, "nor to leave gossip")
	ms, err := e.Members(t.Context())
	require.NoError(t, err)
	assert.Len(t, ms, 3, "the member is still there")
}
