package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
)

// The machine info RPCs answer the same small machine for every node,
// named for the target.
func (f *fakeNode) Processes(_ context.Context, req *connect.Request[machinev1.ProcessesRequest]) (*connect.Response[machinev1.ProcessesResponse], error) {
	n := f.record(req.Header())
	return connect.NewResponse(&machinev1.ProcessesResponse{NodeName: n, Scope: machinev1.ProcessScope_PROCESS_SCOPE_CAIRND, Processes: []*machinev1.Process{
		{Pid: 50, Ppid: 1, State: "S", Command: "cairnd", Args: []string{"cairnd", "run"}, RssBytes: 3 << 20, CpuTimeMillis: 1500},
		{Pid: 60, Ppid: 50, State: "I", Command: "kworker"},
	}}), nil
}

func (f *fakeNode) Mounts(_ context.Context, req *connect.Request[machinev1.MountsRequest]) (*connect.Response[machinev1.MountsResponse], error) {
	n := f.record(req.Header())
	return connect.NewResponse(&machinev1.MountsResponse{NodeName: n, Mounts: []*machinev1.Mount{
		{Source: "/dev/sda1", MountPoint: "/", FsType: "ext4", Options: []string{"rw", "relatime"}},
	}}), nil
}

func (f *fakeNode) Disks(_ context.Context, req *connect.Request[machinev1.DisksRequest]) (*connect.Response[machinev1.DisksResponse], error) {
	n := f.record(req.Header())
	return connect.NewResponse(&machinev1.DisksResponse{NodeName: n, Disks: []*machinev1.Disk{
		{Name: "sda", SizeBytes: 10 << 30, Model: "QEMU"}, {Name: "sr0", ReadOnly: true},
	}}), nil
}

func (f *fakeNode) List(_ context.Context, req *connect.Request[machinev1.ListRequest]) (*connect.Response[machinev1.ListResponse], error) {
	n := f.record(req.Header())
	if req.Msg.GetPath() != "/etc" {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("path must be clean: %q", req.Msg.GetPath()))
	}
	return connect.NewResponse(&machinev1.ListResponse{NodeName: n, Entries: []*machinev1.FileInfo{
		{Path: "/etc/hostname", Name: "hostname", SizeBytes: 6, Mode: "-rw-r--r--"},
	}}), nil
}

func (f *fakeNode) Read(_ context.Context, req *connect.Request[machinev1.ReadRequest], stream *connect.ServerStream[machinev1.ReadResponse]) error {
	n := f.record(req.Header())
	if err := stream.Send(&machinev1.ReadResponse{Data: []byte("hello ")}); err != nil {
		return err
	}
	return stream.Send(&machinev1.ReadResponse{Data: []byte(n + "\n"), Truncated: req.Msg.GetLimitBytes() == 1})
}

func TestPsMountsDisksTables(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))

	r := runCLI(t, "-e", addr, "-n", "worker1", "ps")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, [][]string{
		{"NODE", "PID", "PPID", "STATE", "RSS", "CPU", "COMMAND"},
		{"worker1", "50", "1", "S", "3.0MiB", "1.5s", "cairnd", "run"},
		{"worker1", "60", "50", "I", "0B", "0s", "[kworker]"},
	}, fields(r.stdout))

	r = runCLI(t, "-e", addr, "mounts")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, [][]string{{"NODE", "SOURCE", "MOUNTPOINT", "TYPE", "RO", "OPTIONS"}, {"cp1", "/dev/sda1", "/", "ext4", "false", "rw,relatime"}}, fields(r.stdout))

	r = runCLI(t, "-e", addr, "-n", "cp1,worker1", "disks")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, [][]string{
		{"NODE", "NAME", "SIZE", "RO", "MODEL", "SERIAL"},
		{"cp1", "sda", "10.0GiB", "false", "QEMU", "-"}, {"cp1", "sr0", "0B", "true", "-", "-"},
		{"worker1", "sda", "10.0GiB", "false", "QEMU", "-"}, {"worker1", "sr0", "0B", "true", "-", "-"},
	}, fields(r.stdout))
}

func TestPsJSONCarriesTheScope(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))
	r := runCLI(t, "-e", addr, "-n", "worker1", "ps", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var out struct {
		Nodes []struct {
			NodeName  string           `json:"nodeName"`
			Scope     string           `json:"scope"`
			Processes []map[string]any `json:"processes"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	require.Len(t, out.Nodes, 1)
	assert.Equal(t, "PROCESS_SCOPE_CAIRND", out.Nodes[0].Scope)
	assert.InDelta(t, 50, out.Nodes[0].Processes[0]["pid"], 0)
	assert.InDelta(t, 3<<20, out.Nodes[0].Processes[0]["rssBytes"], 0, "64-bit numbers are JSON numbers")

	r = runCLI(t, "-e", addr, "mounts", "-o", "yaml")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "mountPoint: /")
}

func TestLsAndRead(t *testing.T) {
	isolateHome(t)
	addr := serveFake(t, newFake("cp1"))
	r := runCLI(t, "-e", addr, "-n", "worker1", "ls", "/etc")
	require.Equal(t, 0, r.code, r.stderr)
	rows := fields(r.stdout)
	require.Len(t, rows, 2)
	assert.Equal(t, []string{"NODE", "MODE", "SIZE", "MODIFIED", "PATH"}, rows[0])
	assert.Equal(t, "/etc/hostname", rows[1][4])

	r = runCLI(t, "-e", addr, "-n", "worker1", "ls", "/etc/../root")
	assert.NotEqual(t, 0, r.code, "the node's invalid_argument is a failure")
	assert.Contains(t, r.stderr, "invalid_argument")

	r = runCLI(t, "-e", addr, "-n", "worker1", "read", "/etc/hostname")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "hello worker1\n", r.stdout)

	r = runCLI(t, "-e", addr, "-n", "cp1,worker1", "read", "/etc/hostname", "--limit", "1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "==> cp1 <==\nhello cp1\n==> worker1 <==\nhello worker1\n", r.stdout)
	assert.Contains(t, r.stderr, "truncated")

	r = runCLI(t, "-e", addr, "-n", "worker1", "read", "/etc/hostname", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"nodes":[{"nodeName":"worker1","content":"hello worker1\n","truncated":false}]}`, r.stdout)
}
