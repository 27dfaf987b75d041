package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"

	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// bootID is node n's current boot ID, "n-boot0" until it reboots.
func (f *fakeNode) bootID(n string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.boots[n]; ok {
		return b
	}
	return n + "-boot0"
}

// goDown answers a power call the way a node does: with the boot ID it
// ends; then its next Version calls fail (not_found through the endpoint,
// as for a node gossip lost) until it is back with a new boot ID.
func (f *fakeNode) goDown(n string) string {
	old := f.bootID(n)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.boots == nil {
		f.boots = map[string]string{}
	}
	if f.downProbes == nil {
		f.downProbes = map[string]int{}
	}
	f.boots[n] = fmt.Sprintf("%s-boot%d", n, len(f.targets))
	if _, set := f.downProbes[n]; !set {
		f.downProbes[n] = 3
	}
	return old
}

// downError is Version's answer while n is down.
func (f *fakeNode) downError(n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.downProbes[n] <= 0 {
		return nil
	}
	f.downProbes[n]--
	return connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown node: %s", n))
}

func (f *fakeNode) Reboot(_ context.Context, req *connect.Request[machinev1.RebootRequest]) (*connect.Response[machinev1.RebootResponse], error) {
	n := f.record(req.Header())
	return connect.NewResponse(&machinev1.RebootResponse{NodeName: n, BootId: f.goDown(n)}), nil
}

func (f *fakeNode) Shutdown(_ context.Context, req *connect.Request[machinev1.ShutdownRequest]) (*connect.Response[machinev1.ShutdownResponse], error) {
	n := f.record(req.Header())
	return connect.NewResponse(&machinev1.ShutdownResponse{NodeName: n, BootId: f.bootID(n)}), nil
}

func (f *fakeNode) Reset(_ context.Context, req *connect.Request[machinev1.ResetRequest]) (*connect.Response[machinev1.ResetResponse], error) {
	n := f.record(req.Header())
	f.mu.Lock()
	f.resets = append(f.resets, req.Msg)
	f.mu.Unlock()
	return connect.NewResponse(&machinev1.ResetResponse{NodeName: n, BootId: f.goDown(n), StateId: "0123456789ab",
		LeftRaft: n == "cp2", LeftGossip: req.Msg.GetGraceful()}), nil
}

func (f *fakeNode) Dmesg(_ context.Context, req *connect.Request[machinev1.DmesgRequest], stream *connect.ServerStream[machinev1.DmesgResponse]) error {
	n := f.record(req.Header())
	f.mu.Lock()
	f.follows = append(f.follows, req.Msg.GetFollow())
	f.mu.Unlock()
	if n == "worker2" {
		return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("the kernel message buffer (/dev/kmsg) cannot be read on this node"))
	}
	return stream.Send(&machinev1.DmesgResponse{NodeName: n, Messages: []*machinev1.KernelMessage{
		{Sequence: 1, Priority: 6, SinceBoot: durationpb.New(5140900 * time.Microsecond), Message: "Linux version 6.1 on " + n},
		{Sequence: 2, Facility: 1, Priority: 3, SinceBoot: durationpb.New(72 * time.Second), Message: "cairnd: oops"},
	}})
}

func TestRebootWithoutWaitAsksEveryNodeAtOnce(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "-n", "cp2,worker1", "reboot")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "cp2: reboot requested (boot cp2-boot)")
	assert.Contains(t, r.stdout, "worker1: reboot requested (boot worker1-)")
	assert.ElementsMatch(t, []string{"cp2", "worker1"}, f.seenTargets())
}

func TestRebootWaitFollowsTheNodeUntilANewBootAndHealth(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	f.health = fakeHealth(true)
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "-n", "cp2", "reboot", "--wait", "--wait-timeout", "30s")

	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "cp2: reboot requested (boot cp2-boot)\n")
	assert.Contains(t, r.stdout, "cp2: waiting for the node to come back\n")
	assert.Regexp(t, `cp2: back after \S+ \(boot cp2-boot\)`, r.stdout)
	assert.Contains(t, r.stdout, "✓ nodes:", "then the cluster's health")
	assert.NotEqual(t, "cp2-boot0", f.bootID("cp2"))
}

func TestRebootWaitGivesUpAtTheTimeout(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	f.health = fakeHealth(true)
	addr := serveFake(t, f)
	// Never back: the probes keep getting not_found.
	f.mu.Lock()
	f.downProbes = map[string]int{"cp2": 1 << 30}
	f.mu.Unlock()

	r := runCLI(t, "-e", addr, "-n", "cp2", "reboot", "--wait", "--wait-timeout", "1s")

	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "cp2: "+ErrNotBack.Error())
	assert.Contains(t, r.stderr, "unknown node: cp2", "the last probe's error says why")
}

func TestResetNeedsNamedNodesAndSendsItsOptions(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "reset")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "reset needs the nodes named (-n NODE)")
	assert.Empty(t, f.seenTargets(), "nothing was reset")

	r = runCLI(t, "-e", addr, "-n", "cp2", "reset")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "cp2: reset requested (boot cp2-boot): left raft, left gossip, wiping state 0123456789ab\n", r.stdout)

	r = runCLI(t, "-e", addr, "-n", "worker1", "reset", "--graceful=false", "--reboot=false")
	require.Equal(t, 0, r.code, r.stderr)
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.resets, 2)
	assert.True(t, f.resets[0].GetGraceful())
	assert.True(t, f.resets[0].GetReboot())
	assert.False(t, f.resets[1].GetGraceful())
	assert.False(t, f.resets[1].GetReboot())
	require.NotNil(t, f.resets[1].Graceful, "the options are sent, not left to the node's defaults")
}

func TestResetWaitWithPowerOffIsAUsageError(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))
	r := runCLI(t, "-e", addr, "-n", "worker1", "reset", "--reboot=false", "--wait")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "--reboot=false rules out")
}

func TestShutdownAnswers(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))
	r := runCLI(t, "-e", addr, "-n", "worker2", "shutdown")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "worker2: shutdown requested (boot worker2-)\n", r.stdout)
}

func TestDmesgPrintsLinesAndReportsNodesWithoutKmsg(t *testing.T) {
	isolateHome(t)
	f := newFake("cp1")
	addr := serveFake(t, f)

	r := runCLI(t, "-e", addr, "dmesg")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "[    5.140900] kern.info: Linux version 6.1 on cp1\n[   72.000000] user.err: cairnd: oops\n", r.stdout)

	r = runCLI(t, "-e", addr, "-n", "cp1,worker2", "dmesg")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "cp1: [    5.140900] kern.info: Linux version 6.1 on cp1\n")
	assert.Contains(t, r.stderr, "worker2: failed_precondition: the kernel message buffer (/dev/kmsg) cannot be read")

	r = runCLI(t, "-e", addr, "dmesg", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var out struct {
		Nodes []struct {
			NodeName string `json:"nodeName"`
			Messages []struct {
				Sequence uint64 `json:"sequence"`
				Message  string `json:"message"`
			} `json:"messages"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	require.Len(t, out.Nodes, 1)
	assert.Equal(t, "cp1", out.Nodes[0].NodeName, "the endpoint's node, by the name it answered with")
	require.Len(t, out.Nodes[0].Messages, 2)
	assert.Equal(t, "cairnd: oops", out.Nodes[0].Messages[1].Message)

	// The fake ends the stream; a real node keeps it open until interrupted.
	r = runCLI(t, "-e", addr, "-n", "cp1,worker1", "dmesg", "--follow")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "worker1: [   72.000000] user.err: cairnd: oops\n")
	f.mu.Lock()
	assert.Equal(t, []bool{true, true}, f.follows[len(f.follows)-2:])
	f.mu.Unlock()

	r = runCLI(t, "-e", addr, "dmesg", "--follow", "-o", "json")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, ErrUsage.Error())
}
