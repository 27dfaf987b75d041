package api_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/config"
	machinev1 "github.com/cairn-project/cairn/proto/gen/cairn/machine/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/machine/v1/machinev1connect"
)

// fakeRoot writes files (name relative to the root → content) into a
// fresh directory standing for /.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// stat is a /proc/PID/stat line with the fields the API reads.
func stat(pid, comm, state, ppid, utime, stime, rssPages string) string {
	f := []string{pid, "(" + comm + ")", state, ppid}
	for i := 5; i <= 52; i++ {
		switch i {
		case 14:
			f = append(f, utime)
		case 15:
			f = append(f, stime)
		case 24:
			f = append(f, rssPages)
		default:
			f = append(f, "0")
		}
	}
	return strings.Join(f, " ") + "\n"
}

var hostFiles = map[string]string{
	"proc/1/stat":     stat("1", "init", "S", "0", "10", "5", "100"),
	"proc/1/cmdline":  "/sbin/init\x00",
	"proc/50/stat":    stat("50", "cairnd", "S", "1", "200", "100", "1000"),
	"proc/50/cmdline": "cairnd\x00run\x00--state\x00/var/lib/cairn\x00",
	"proc/60/stat":    stat("60", "my (odd) cmd", "R", "50", "0", "0", "10"),
	"proc/70/stat":    stat("70", "kworker/0:1", "I", "60", "0", "0", "0"),
	"proc/80/stat":    stat("80", "sshd", "S", "1", "1", "1", "1"),
	"proc/self/mountinfo": "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
		"30 22 0:25 / /mnt/my\\040disk ro,nosuid - vfat /dev/sdb1 ro,fmask=0022\n",
	"sys/block/sda/size":          "2048\n",
	"sys/block/sda/device/model":  "QEMU HARDDISK   \n",
	"sys/block/sda/device/serial": "QM0001\n",
	"sys/block/sda/ro":            "0\n",
	"sys/block/sr0/size":          "0\n",
	"sys/block/sr0/ro":            "1\n",
	"etc/hostname":                "node1\n",
	"var/log/a.log":               strings.Repeat("x", 200000),
	"var/log/sub/b.log":           "b",
	"var/log/sub/deeper/c.log":    "c",
}

func machineClient(t *testing.T, opts api.Options, role string) machinev1connect.MachineServiceClient {
	t.Helper()
	addr, client := tlsAPI(t, opts)
	return machinev1connect.NewMachineServiceClient(client(role), "https://"+addr, connect.WithGRPC())
}

func TestProcessesOnAHostListEveryProcess(t *testing.T) {
	noLeaks(t)
	c := machineClient(t, api.Options{Mode: "pid1", Host: api.Host{Root: os.DirFS(fakeRoot(t, hostFiles)), PID: 1}}, config.APIRoleReader)
	res, err := c.Processes(t.Context(), connect.NewRequest(&machinev1.ProcessesRequest{}))
	require.NoError(t, err)
	assert.Equal(t, machinev1.ProcessScope_PROCESS_SCOPE_HOST, res.Msg.GetScope())
	var pids []int32
	for _, p := range res.Msg.GetProcesses() {
		pids = append(pids, p.GetPid())
	}
	assert.Equal(t, []int32{1, 50, 60, 70, 80}, pids)
	cairnd := res.Msg.GetProcesses()[1]
	assert.Equal(t, "cairnd", cairnd.GetCommand())
	assert.Equal(t, []string{"cairnd", "run", "--state", "/var/lib/cairn"}, cairnd.GetArgs())
	assert.Equal(t, int32(1), cairnd.GetPpid())
	assert.Equal(t, "S", cairnd.GetState())
	assert.Equal(t, uint64(3000), cairnd.GetCpuTimeMillis(), "300 ticks of 1/100 s")
	assert.Equal(t, uint64(1000*os.Getpagesize()), cairnd.GetRssBytes())
	odd := res.Msg.GetProcesses()[2]
	assert.Equal(t, "my (odd) cmd", odd.GetCommand(), "parentheses in the command do not shift fields")
	assert.Equal(t, "R", odd.GetState())
	assert.Empty(t, res.Msg.GetProcesses()[3].GetArgs(), "a kernel thread has no command line")
}

func TestProcessesInProcessModeListOnlyCairndAndItsDescendants(t *testing.T) {
	noLeaks(t)
	c := machineClient(t, api.Options{Mode: "process", Host: api.Host{Root: os.DirFS(fakeRoot(t, hostFiles)), PID: 50}}, config.APIRoleReader)
	res, err := c.Processes(t.Context(), connect.NewRequest(&machinev1.ProcessesRequest{}))
	require.NoError(t, err)
	assert.Equal(t, machinev1.ProcessScope_PROCESS_SCOPE_CAIRND, res.Msg.GetScope())
	var pids []int32
	for _, p := range res.Msg.GetProcesses() {
		pids = append(pids, p.GetPid())
	}
	assert.Equal(t, []int32{50, 60, 70}, pids, "init and sshd are the host's")
}

func TestMountsAndDisksFromAFakeRoot(t *testing.T) {
	noLeaks(t)
	c := machineClient(t, api.Options{Host: api.Host{Root: os.DirFS(fakeRoot(t, hostFiles))}}, config.APIRoleReader)
	mounts, err := c.Mounts(t.Context(), connect.NewRequest(&machinev1.MountsRequest{}))
	require.NoError(t, err)
	require.Len(t, mounts.Msg.GetMounts(), 2)
	root, disk := mounts.Msg.GetMounts()[0], mounts.Msg.GetMounts()[1]
	assert.Equal(t, []string{"/dev/sda1", "/", "ext4"}, []string{root.GetSource(), root.GetMountPoint(), root.GetFsType()})
	assert.Equal(t, []string{"rw", "relatime"}, root.GetOptions())
	assert.False(t, root.GetReadOnly())
	assert.Equal(t, "/mnt/my disk", disk.GetMountPoint(), "octal escapes are undone")
	assert.True(t, disk.GetReadOnly())
	assert.Equal(t, []string{"ro", "fmask=0022"}, disk.GetSuperOptions())

	disks, err := c.Disks(t.Context(), connect.NewRequest(&machinev1.DisksRequest{}))
	require.NoError(t, err)
	require.Len(t, disks.Msg.GetDisks(), 2)
	sda, sr0 := disks.Msg.GetDisks()[0], disks.Msg.GetDisks()[1]
	assert.Equal(t, "sda", sda.GetName())
	assert.Equal(t, uint64(2048*512), sda.GetSizeBytes())
	assert.Equal(t, "QEMU HARDDISK", sda.GetModel())
	assert.Equal(t, "QM0001", sda.GetSerial())
	assert.False(t, sda.GetReadOnly())
	assert.Equal(t, "sr0", sr0.GetName())
	assert.Empty(t, sr0.GetModel(), "no device/model")
	assert.True(t, sr0.GetReadOnly())
}

func TestListWalksToTheRequestedDepth(t *testing.T) {
	noLeaks(t)
	c := machineClient(t, api.Options{Host: api.Host{Root: os.DirFS(fakeRoot(t, hostFiles))}}, config.APIRoleAdmin)
	paths := func(depth uint32) []string {
		res, err := c.List(t.Context(), connect.NewRequest(&machinev1.ListRequest{Path: "/var/log", Depth: depth}))
		require.NoError(t, err)
		var out []string
		for _, e := range res.Msg.GetEntries() {
			out = append(out, e.GetPath())
		}
		return out
	}
	assert.Equal(t, []string{"/var/log/a.log", "/var/log/sub"}, paths(0))
	assert.Equal(t, []string{"/var/log/a.log", "/var/log/sub", "/var/log/sub/b.log", "/var/log/sub/deeper"}, paths(1))
	assert.Len(t, paths(5), 5)

	res, err := c.List(t.Context(), connect.NewRequest(&machinev1.ListRequest{Path: "/var/log/a.log"}))
	require.NoError(t, err)
	require.Len(t, res.Msg.GetEntries(), 1)
	e := res.Msg.GetEntries()[0]
	assert.Equal(t, "a.log", e.GetName())
	assert.Equal(t, uint64(200000), e.GetSizeBytes())
	assert.Equal(t, "-rw-r--r--", e.GetMode())
	assert.False(t, e.GetIsDir())
	assert.WithinDuration(t, time.Now(), e.GetMtime().AsTime(), time.Hour)

	_, err = c.List(t.Context(), connect.NewRequest(&machinev1.ListRequest{Path: "/nope"}))
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
}

// readAll reads a whole Read stream.
func readAll(t *testing.T, c machinev1connect.MachineServiceClient, req *machinev1.ReadRequest) (string, bool, error) {
	t.Helper()
	stream, err := c.Read(t.Context(), connect.NewRequest(req))
	require.NoError(t, err)
	defer stream.Close()
	var b strings.Builder
	truncated := false
	for stream.Receive() {
		b.Write(stream.Msg().GetData())
		truncated = truncated || stream.Msg().GetTruncated()
	}
	return b.String(), truncated, stream.Err()
}

func TestReadStreamsUpToTheLimit(t *testing.T) {
	noLeaks(t)
	c := machineClient(t, api.Options{Host: api.Host{Root: os.DirFS(fakeRoot(t, hostFiles))}}, config.APIRoleAdmin)
	got, truncated, err := readAll(t, c, &machinev1.ReadRequest{Path: "/etc/hostname"})
	require.NoError(t, err)
	assert.Equal(t, "node1\n", got)
	assert.False(t, truncated)

	got, truncated, err = readAll(t, c, &machinev1.ReadRequest{Path: "/var/log/a.log"})
	require.NoError(t, err)
	assert.Len(t, got, 200000, "in several chunks")
	assert.False(t, truncated)

	got, truncated, err = readAll(t, c, &machinev1.ReadRequest{Path: "/var/log/a.log", LimitBytes: 70000})
	require.NoError(t, err)
	assert.Len(t, got, 70000)
	assert.True(t, truncated)

	got, truncated, err = readAll(t, c, &machinev1.ReadRequest{Path: "/etc/hostname", LimitBytes: 6})
	require.NoError(t, err)
	assert.Equal(t, "node1\n", got)
	assert.False(t, truncated, "a file that ends at the limit is whole")

	_, _, err = readAll(t, c, &machinev1.ReadRequest{Path: "/var/log"})
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "a directory")
	_, _, err = readAll(t, c, &machinev1.ReadRequest{Path: "/etc/hostname", LimitBytes: 1 << 40})
	assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	_, _, err = readAll(t, c, &machinev1.ReadRequest{Path: "/etc/missing"})
	assert.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
}

func TestListAndReadRefuseUncleanPaths(t *testing.T) {
	noLeaks(t)
	c := machineClient(t, api.Options{Host: api.Host{Root: os.DirFS(fakeRoot(t, hostFiles))}}, config.APIRoleAdmin)
	for _, p := range []string{"", "etc/hostname", "/etc/../etc/hostname", "/..", "/../etc", "/etc/", "//etc", "/etc/./hostname", "/var/log/sub/.."} {
		_, err := c.List(t.Context(), connect.NewRequest(&machinev1.ListRequest{Path: p}))
		assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "List %q", p)
		_, _, err = readAll(t, c, &machinev1.ReadRequest{Path: p})
		assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "Read %q", p)
	}
	res, err := c.List(t.Context(), connect.NewRequest(&machinev1.ListRequest{Path: "/"}))
	require.NoError(t, err, "the root itself is clean")
	assert.NotEmpty(t, res.Msg.GetEntries())
}

func TestMachineInfoRoles(t *testing.T) {
	noLeaks(t)
	opts := api.Options{Host: api.Host{Root: os.DirFS(fakeRoot(t, hostFiles))}}
	addr, client := tlsAPI(t, opts)
	calls := map[string]func(machinev1connect.MachineServiceClient) error{
		"Processes": func(c machinev1connect.MachineServiceClient) error {
			_, err := c.Processes(t.Context(), connect.NewRequest(&machinev1.ProcessesRequest{}))
			return err
		},
		"Mounts": func(c machinev1connect.MachineServiceClient) error {
			_, err := c.Mounts(t.Context(), connect.NewRequest(&machinev1.MountsRequest{}))
			return err
		},
		"Disks": func(c machinev1connect.MachineServiceClient) error {
			_, err := c.Disks(t.Context(), connect.NewRequest(&machinev1.DisksRequest{}))
			return err
		},
		"List": func(c machinev1connect.MachineServiceClient) error {
			_, err := c.List(t.Context(), connect.NewRequest(&machinev1.ListRequest{Path: "/etc"}))
			return err
		},
		"Read": func(c machinev1connect.MachineServiceClient) error {
			s, err := c.Read(t.Context(), connect.NewRequest(&machinev1.ReadRequest{Path: "/etc/hostname"}))
			if err != nil {
				return err
			}
			defer s.Close()
			for s.Receive() {
			}
			return s.Err()
		},
	}
	need := map[string]string{"Processes": config.APIRoleReader, "Mounts": config.APIRoleReader, "Disks": config.APIRoleReader,
		"List": config.APIRoleAdmin, "Read": config.APIRoleAdmin}
	roles := []string{config.APIRoleReader, config.APIRoleOperator, config.APIRoleAdmin}
	rank := map[string]int{config.APIRoleReader: 0, config.APIRoleOperator: 1, config.APIRoleAdmin: 2}
	for _, role := range roles {
		c := machinev1connect.NewMachineServiceClient(client(role), "https://"+addr, connect.WithGRPC())
		for rpc, call := range calls {
			err := call(c)
			if rank[role] >= rank[need[rpc]] {
				assert.NoError(t, err, "%s as %s", rpc, role)
				continue
			}
			var cerr *connect.Error
			require.True(t, errors.As(err, &cerr), "%s as %s: %v", rpc, role, err)
			assert.Equal(t, connect.CodePermissionDenied, cerr.Code(), "%s as %s", rpc, role)
			assert.Contains(t, cerr.Message(), rpc+" needs "+need[rpc])
		}
	}
}
