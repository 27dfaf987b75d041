package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/provision/qemu"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/rootfs/initramfs"
)

// requireQEMU skips outside CI when this host cannot run the qemu
// provisioner (root, qemu-system-x86_64, /dev/net/tun, apt for the
// kernel); in CI the suite must run.
func requireQEMU(t testing.TB) {
	t.Helper()
	err := qemu.Check()
	if err == nil {
		if _, lerr := exec.LookPath("apt-get"); lerr != nil {
			err = lerr
		}
	}
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the qemu suite must run in CI: %v", err)
	}
	t.Skipf("cannot run VMs here: %v (runs in CI)", err)
}

// bootFiles builds the kernel and initramfs the VMs boot, as
// `make initramfs` does: a static cairnd as /init, etcd beside it.
func bootFiles(t testing.TB) (kernel, initrd string) {
	t.Helper()
	root, err := repoRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	cairnd := filepath.Join(dir, "cairnd")
	cmd := exec.Command("go", "build", "-trimpath", "-o", cairnd, "./cmd/cairnd")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build a static cairnd: %s", out)
	res, err := initramfs.Build(context.Background(), initramfs.Options{Cairnd: cairnd, Etcd: filepath.Join(bin, "etcd"), OutDir: dir})
	require.NoError(t, err)
	return res.Kernel, res.Initramfs
}

// qemuWait bounds every wait of the suite: VMs run under TCG on two
// shared cores, so generously, but bounded.
const qemuWait = 4 * time.Minute

// createQEMUCluster boots a cluster of VMs and checks what it made.
func createQEMUCluster(t testing.TB, name string, controlPlanes int) *localCluster {
	t.Helper()
	kernel, initrd := bootFiles(t)
	return createQEMUClusterFrom(t, name, controlPlanes, kernel, initrd)
}

// envQEMUTimings, when set, is the --timings of the VMs the suite boots
// (the provisioner's default, slow, otherwise): for comparing BenchmarkQEMU
// under another profile.
const envQEMUTimings = "CAIRN_QEMU_TIMINGS"

// createQEMUClusterFrom boots a cluster of VMs from the given boot files.
func createQEMUClusterFrom(t testing.TB, name string, controlPlanes int, kernel, initrd string) *localCluster {
	t.Helper()
	args := []string{"--provisioner", "qemu", "--kernel", kernel, "--initramfs", initrd, "--wait-timeout", qemuWait.String()}
	if tm := os.Getenv(envQEMUTimings); tm != "" {
		args = append(args, "--timings", tm) // BenchmarkQEMU against the default
	}
	c := createCluster(t, name, controlPlanes, 0, args...)
	t.Cleanup(func() { // before the destroy createCluster registered
		if t.Failed() {
			c.dumpLogs()
		}
	})
	for _, n := range c.state.Nodes {
		require.True(t, n.Running, "%s runs", n.Name)
		require.NotZero(t, n.PID, "%s: QEMU's pid", n.Name)
	}
	return c
}

// machineJSON runs a machine command fanned out to nodes with -o json and
// returns each node's answer.
func machineJSON[T any](t testing.TB, c *localCluster, nodes []string, args ...string) []T {
	t.Helper()
	out, err := c.ctl(append([]string{"-n", strings.Join(nodes, ","), "-o", "json"}, args...)...)
	require.NoError(t, err, out)
	var res struct {
		Nodes []T `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Len(t, res.Nodes, len(nodes), out)
	return res.Nodes
}

type mountsAnswer struct {
	NodeName string `json:"nodeName"`
	Mounts   []struct {
		Source     string `json:"source"`
		MountPoint string `json:"mountPoint"`
		FsType     string `json:"fsType"`
		ReadOnly   bool   `json:"readOnly"`
	} `json:"mounts"`
}

// processLives reports whether pid runs and is not a zombie (QEMU's
// parent, after it daemonized, is init, which reaps it when it will).
func processLives(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "stat"))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestQEMUCluster boots three control planes as VMs with cairnd as PID 1
// under Debian's kernel and checks that they form a healthy cluster that
// runs as a machine: pid1 mode, its own mounts with the state disk on
// /var; that a reboot goes through reboot(2) inside the same VM and keeps
// the node's Raft state; that reset wipes a node, which comes back as a
// new member; that a VM booted with no config waits in
// maintenance mode, joins after apply-config --insecure, and reports a
// missing disk, an unknown module and an unknown sysctl as status; that
// shutdown ends QEMU; that a disk holding this cluster's state, booted by
// a node of another cluster, is never formatted; and that destroy leaves
// nothing behind.
func TestQEMUCluster(t *testing.T) {
	requireQEMU(t)
	kernel, initrd := bootFiles(t)
	c := createQEMUClusterFrom(t, "qemu", 3, kernel, initrd)
	nodes := []string{"cp1", "cp2", "cp3"}

	t.Run("PID1", func(t *testing.T) {
		for _, v := range machineJSON[struct {
			NodeName string `json:"nodeName"`
			Mode     string `json:"mode"`
		}](t, c, nodes, "version") {
			require.Equal(t, "pid1", v.Mode, v.NodeName)
		}
		for _, m := range machineJSON[mountsAnswer](t, c, nodes, "mounts") {
			requireMachineMounts(t, m)
		}
	})

	t.Run("RebootKeepsRaftState", func(t *testing.T) {
		before, err := c.consensusStatus(c.node("cp1").APIAddress)
		require.NoError(t, err)
		id := serverID(before, "cp2")
		require.NotEmpty(t, id)
		pid := c.node("cp2").PID
		out, err := c.ctl("-n", "cp2", "reboot", "--wait", "--wait-timeout", qemuWait.String())
		require.NoError(t, err, out)
		c.refresh()
		// reboot(2) resets the VM inside the same QEMU process, which
		// boots the kernel again: a second boot on the console.
		require.Equal(t, pid, c.node("cp2").PID, "the reboot stayed inside the VM")
		console, err := os.ReadFile(c.node("cp2").LogFile)
		require.NoError(t, err)
		require.Equal(t, 2, strings.Count(string(console), "Run /init as init process"), "two boots on cp2's console")
		after, err := c.consensusStatus(c.node("cp1").APIAddress)
		require.NoError(t, err)
		require.Equal(t, id, serverID(after, "cp2"), "cp2 came back as the same Raft server, from its disk")
		out, err = c.ctl("-n", "cp2", "get", "StateDiskStatus", "-o", "json")
		require.NoError(t, err, out)
		require.Contains(t, out, `"mounted"`, "the second boot mounted the disk it formatted, without formatting it again")
	})

	t.Run("MaintenanceVMJoinsAndReportsBadInput", func(t *testing.T) {
		testMaintenanceVM(t, c, kernel, initrd)
	})

	t.Run("ResetRejoinsAsNewMember", func(t *testing.T) {
		before, err := c.consensusStatus(c.node("cp1").APIAddress)
		require.NoError(t, err)
		id := serverID(before, "cp3")
		require.NotEmpty(t, id)
		out, err := c.ctl("-n", "cp3", "reset", "--wait", "--wait-timeout", qemuWait.String())
		require.NoError(t, err, out)
		// --wait returned with the cluster healthy: cp3 is a voter again,
		// under the new state ID a wiped node makes.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			after, err := c.consensusStatus(c.node("cp1").APIAddress)
			if assert.NoError(ct, err) {
				newID := serverID(after, "cp3")
				assert.NotEmpty(ct, newID, "cp3 is a Raft server again")
				assert.NotEqual(ct, id, newID, "cp3 rejoined as a new member")
			}
		}, qemuWait, time.Second)
	})

	t.Run("ShutdownEndsQEMU", func(t *testing.T) {
		pid := c.node("cp3").PID
		out, err := c.ctl("-n", "cp3", "shutdown")
		require.NoError(t, err, out)
		require.Eventually(t, func() bool { return !processLives(pid) }, qemuWait, 200*time.Millisecond,
			"QEMU of cp3 still runs after shutdown")
		c.refresh()
		require.False(t, c.node("cp3").Running)
	})

	t.Run("ForeignDiskIsNotFormatted", func(t *testing.T) {
		testForeignDisk(t, c, kernel, initrd)
	})

	t.Run("DestroyLeavesNothing", func(t *testing.T) {
		ns := fmt.Sprintf("cairn-%s-%d", c.name, c.state.Subnet)
		require.FileExists(t, "/run/netns/"+ns)
		pids := []int{}
		for _, n := range c.state.Nodes {
			pids = append(pids, n.PID)
		}
		out, err := c.ctl("cluster", "destroy", "--name", c.name)
		require.NoError(t, err, out)
		for _, pid := range pids {
			require.False(t, processLives(pid), "QEMU %d still runs", pid)
		}
		require.NoFileExists(t, "/run/netns/"+ns)
		out, err = c.ctl("cluster", "destroy", "--name", c.name)
		require.Error(t, err)
		require.Contains(t, out, "cluster not found")
	})
}

// requireMachineMounts checks what cairnd as PID 1 mounts.
func requireMachineMounts(t *testing.T, m mountsAnswer) {
	t.Helper()
	types := map[string]string{}
	for _, mt := range m.Mounts {
		types[mt.MountPoint] = mt.FsType
		if mt.MountPoint == "/" {
			require.True(t, mt.ReadOnly, "%s: the root is read-only", m.NodeName)
		}
		if mt.MountPoint == "/var" {
			require.True(t, strings.HasPrefix(mt.Source, "/dev/vda"), "%s: /var is on the state disk, not %s", m.NodeName, mt.Source)
			require.False(t, mt.ReadOnly, "%s: /var is writable", m.NodeName)
		}
	}
	require.Equal(t, "proc", types["/proc"], m.NodeName)
	require.Equal(t, "sysfs", types["/sys"], m.NodeName)
	require.Equal(t, "devtmpfs", types["/dev"], m.NodeName)
	require.Contains(t, []string{"cgroup2", "cgroup", "tmpfs"}, types["/sys/fs/cgroup"], m.NodeName)
	require.Equal(t, "ext4", types["/var"], m.NodeName)
}

// testMaintenanceVM adds worker1 to the cluster's config with a state
// disk that does not exist, a module and a sysctl the kernel does not
// have; boots its VM with no config (maintenance mode); sends it the
// config with apply-config --insecure; and checks that it joins and
// reports each failure in its status.
func testMaintenanceVM(t *testing.T, c *localCluster, kernel, initrd string) {
	const (
		module = "cairn_no_such_module"
		sysctl = "net.ipv4.cairn_no_such_param"
	)
	vms := qemu.Cluster{Name: c.name, Dir: c.clusterDir(), Subnet: c.state.Subnet, Kernel: kernel, Initramfs: initrd}
	const index = 4 // after cp1..cp3 in the address plan
	doc, err := os.ReadFile(filepath.Join(c.clusterDir(), "cluster.yaml"))
	require.NoError(t, err)
	withWorker := mutate(t, string(doc), func(m map[string]any) {
		m["nodes"] = append(m["nodes"].([]any), map[string]any{
			"name": "worker1", "role": "worker", "match": map[string]any{"name": "worker1"},
			"network": map[string]any{
				"links":     []any{map[string]any{"name": "eth0", "up": true}},
				"addresses": []any{map[string]any{"link": "eth0", "cidr": vms.NodeAddress(index).String()}},
			},
			"certSANs":  []any{vms.HostAddress(index)},
			"stateDisk": map[string]any{"path": "/dev/vdz"},
			"kernel": map[string]any{
				"modules": []any{map[string]any{"name": module}},
				"sysctls": map[string]any{sysctl: "1"},
			},
		})
	})
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	require.NoError(t, os.WriteFile(file, []byte(withWorker), 0o600))
	out, err := c.ctl("config", "apply", "-f", file)
	require.NoError(t, err, out)

	_, err = vms.Start(context.Background(), vms.Node("worker1", index))
	require.NoError(t, err)
	// The maintenance API comes up once the VM has booted; until then the
	// forward answers nothing.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		out, err := c.ctl("apply-config", "--insecure", "-e", vms.HostAPI(index), "-f", file)
		assert.NoError(ct, err, out)
	}, qemuWait, time.Second, "apply-config --insecure to worker1")

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		out, err := c.ctl("-n", "worker1", "-o", "json", "version")
		assert.NoError(ct, err, out)
		assert.Contains(ct, out, `"pid1"`)
	}, qemuWait, time.Second, "worker1 joins after apply-config")
	out, err = c.ctl("-n", "worker1", "get", "BootStatus", "-o", "json")
	require.NoError(t, err, out)
	require.Contains(t, out, "maintenance", "worker1 got its config in maintenance mode")

	out, err = c.ctl("-n", "worker1", "get", "StateDiskStatus", "-o", "json")
	require.NoError(t, err, out)
	require.Contains(t, out, "/dev/vdz", "the missing disk is named in the status")
	require.NotContains(t, out, `"mounted"`)
	for _, q := range [][2]string{{"KernelModuleStatus", module}, {"SysctlStatus", sysctl}} {
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			out, err := c.ctl("-n", "worker1", "get", q[0], q[1], "-o", "json")
			assert.NoError(ct, err, out)
			assert.Contains(ct, out, `"error"`, "%s %s reports its failure", q[0], q[1])
		}, qemuWait, time.Second)
	}
}

// testForeignDisk boots a node of another cluster on a copy of cp3's
// state disk (cp3 is shut down, so the copy is clean): the node must
// refuse the disk, which holds this cluster's state, leave it untouched,
// and boot with its state in memory.
func testForeignDisk(t *testing.T, c *localCluster, kernel, initrd string) {
	const index = 5 // after worker1 in the address plan
	vms := qemu.Cluster{Name: c.name, Dir: c.clusterDir(), Subnet: c.state.Subnet, Kernel: kernel, Initramfs: initrd}
	other, err := config.Generate(config.GenerateOptions{
		ClusterName: "other", ControlPlanes: 1, LoopbackSubnet: c.state.Subnet,
		NodeAddresses: []string{vms.NodeAddress(index).String()}, NodeLinkUp: true, StateDisk: "/dev/vda",
	})
	require.NoError(t, err)
	other.Nodes[0].Name, other.Nodes[0].Match.Name = "foreign1", "foreign1"
	data, err := other.Marshal(false)
	require.NoError(t, err)
	vms.Config = filepath.Join(t.TempDir(), "other.yaml")
	require.NoError(t, os.WriteFile(vms.Config, data, 0o600))

	n := vms.Node("foreign1", index)
	require.NoError(t, os.MkdirAll(n.Dir, 0o700))
	out, err := exec.Command("cp", "--sparse=always", vms.Node("cp3", 3).Disk, n.Disk).CombinedOutput()
	require.NoError(t, err, "%s", out)
	before := fileSHA256(t, n.Disk)
	_, err = vms.Start(context.Background(), n)
	require.NoError(t, err)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		console, err := os.ReadFile(n.Console)
		assert.NoError(ct, err)
		assert.Contains(ct, string(console), "holds the state of cluster", "the refusal is on the console")
		assert.Contains(ct, string(console), "starting node", "the node boots on")
	}, qemuWait, time.Second)
	require.NoError(t, vms.Stop(context.Background(), n))
	require.Equal(t, before, fileSHA256(t, n.Disk), "the foreign disk was written")
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}
