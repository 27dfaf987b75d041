package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/internal/provision/qemu"
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
// `make initramfs` does: a static cairnd as /init.
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
	res, err := initramfs.Build(context.Background(), initramfs.Options{Cairnd: cairnd, OutDir: dir})
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

// createQEMUClusterFrom boots a cluster of VMs from the given boot files.
func createQEMUClusterFrom(t testing.TB, name string, controlPlanes int, kernel, initrd string) *localCluster {
	t.Helper()
	c := createCluster(t, name, controlPlanes, 0, "--provisioner", "qemu",
		"--kernel", kernel, "--initramfs", initrd, "--wait-timeout", qemuWait.String())
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
// runs as a machine: pid1 mode, its own mounts and the state disk on
// /var, then that destroy leaves nothing behind.
func TestQEMUCluster(t *testing.T) {
	requireQEMU(t)
	c := createQEMUCluster(t, "qemu", 3)
	nodes := []string{"cp1", "cp2", "cp3"}

	for _, v := range machineJSON[struct {
		NodeName string `json:"nodeName"`
		Mode     string `json:"mode"`
	}](t, c, nodes, "version") {
		require.Equal(t, "pid1", v.Mode, v.NodeName)
	}

	for _, m := range machineJSON[mountsAnswer](t, c, nodes, "mounts") {
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

	// Destroy stops every VM and removes the namespace with the bridge;
	// a second destroy finds nothing and says so.
	ns := fmt.Sprintf("cairn-%s-%d", c.name, c.state.Subnet)
	require.FileExists(t, "/run/netns/"+ns)
	out, err := c.ctl("cluster", "destroy", "--name", c.name)
	require.NoError(t, err, out)
	for _, n := range c.state.Nodes {
		require.False(t, processLives(n.PID), "QEMU of %s still runs", n.Name)
	}
	require.NoFileExists(t, "/run/netns/"+ns)
	out, err = c.ctl("cluster", "destroy", "--name", c.name)
	require.Error(t, err)
	require.Contains(t, out, "cluster not found")
}
