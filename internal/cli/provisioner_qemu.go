package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairn-project/cairn/internal/provision/qemu"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/rootfs/initramfs"
)

// qemuProvisioner runs each node as a QEMU VM (internal/provision/qemu)
// booting the kernel and initramfs of 'make initramfs', cairnd as PID 1.
// The VMs talk on a bridge in a network namespace of the cluster's; the
// host reaches node i's API at 127.0.N.i:6440 through the VM's user-mode
// NIC. QEMU's pidfile is the truth about what runs; a reboot inside the
// guest stays in the same QEMU process, a poweroff ends it.
type qemuProvisioner struct{}

// qemuCluster is st's layout.
func qemuCluster(st *clusterState, dir string) qemu.Cluster {
	return qemu.Cluster{
		Name: st.Name, Dir: dir, Subnet: st.Subnet,
		Kernel: st.Kernel, Initramfs: st.Initramfs, Config: st.ConfigFile,
		MemoryMiB: st.MemoryMiB, KernelArgs: st.KernelArgs, Kubernetes: st.Kubernetes, Timings: st.Timings,
	}
}

// qemuNode is n's layout; i is its place in st.Nodes, which is its place
// in the address plan.
func qemuNode(c qemu.Cluster, st *clusterState, n nodeState) qemu.Node {
	for i := range st.Nodes {
		if st.Nodes[i].Name == n.Name {
			return c.Node(n.Name, i+1)
		}
	}
	return c.Node(n.Name, len(st.Nodes)+1)
}

// plan checks the host up front (root, QEMU, the boot files) and puts
// node i on 10.N.0.i/24 on its eth0, the bridge, with its state disk at
// /dev/vda and 127.0.N.i, where the host reaches it, in its certificate.
func (*qemuProvisioner) plan(_ context.Context, p *clusterPlan) error {
	if err := qemu.Check(); err != nil {
		return err
	}
	var err error
	if p.Kernel, err = findBootFile(p.Kernel, "vmlinuz", "--kernel", "make initramfs"); err != nil {
		return err
	}
	// A Kubernetes node boots the initramfs that ships it.
	name, target := initramfs.DefaultName, "make initramfs"
	if p.Kubernetes {
		name, target = initramfs.KubernetesName, "make initramfs-kubernetes"
	}
	if p.Initramfs, err = findBootFile(p.Initramfs, name, "--initramfs", target); err != nil {
		return err
	}
	c := qemu.Cluster{Name: p.Name, Subnet: p.Subnet}
	if p.Kubernetes {
		// kubectl on the host uses the first control plane's forward.
		p.Generate.KubernetesEndpoint = "https://" + c.HostKubeAPI(1)
	}
	total := p.ControlPlanes + p.Workers
	p.Generate.NodeAddresses = make([]string, total)
	p.Generate.CertSANs = make([][]string, total)
	p.HostAPI = make([]string, total)
	for i := range total {
		p.Generate.NodeAddresses[i] = c.NodeAddress(i + 1).String()
		p.Generate.CertSANs[i] = []string{c.HostAddress(i + 1)}
		p.HostAPI[i] = c.HostAPI(i + 1)
	}
	p.Generate.NodeLink, p.Generate.NodeLinkUp = "eth0", true
	p.Generate.StateDisk = "/dev/vda"
	return nil
}

// findBootFile returns the flag's file, else name in _out beside the
// cairnctl binary (_out/bin/cairnctl → _out/NAME), else ./_out/NAME; a
// missing one is an error naming the make target that builds it.
func findBootFile(flag, name, flagName, target string) (string, error) {
	candidates := []string{flag}
	if flag == "" {
		candidates = []string{filepath.Join("_out", name)}
		if exe, err := os.Executable(); err == nil {
			candidates = append([]string{filepath.Join(filepath.Dir(exe), "..", name)}, candidates...)
		}
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return filepath.Abs(c)
		}
	}
	if flag != "" {
		return "", fmt.Errorf("%w: %s %s: not a file", ErrBootFiles, flagName, flag)
	}
	return "", fmt.Errorf("%w: no %s in _out (build it with '%s', or pass %s)", ErrBootFiles, name, target, flagName)
}

// create makes the bridge and boots every VM.
func (*qemuProvisioner) create(ctx context.Context, p *clusterPlan, cfg *config.Config, st *clusterState) error {
	st.Kernel, st.Initramfs, st.MemoryMiB, st.KernelArgs = p.Kernel, p.Initramfs, p.MemoryMiB, p.KernelArgs
	c := qemuCluster(st, p.Dir)
	st.Network, st.NetworkCIDR = c.Network().Namespace, c.CIDR()
	if err := c.Network().Create(); err != nil {
		return err
	}
	for i, n := range cfg.Nodes {
		qn := c.Node(n.Name, i+1)
		st.Nodes = append(st.Nodes, nodeState{
			Name: n.Name, Role: string(n.Role), APIAddress: p.hostAPIFor(i, &cfg.Nodes[i]),
			LogFile: qn.Console, StateDir: qn.Dir, Address: c.NodeAddress(i + 1).Addr().String(),
			Machine: qn.VM, Disk: qn.Disk, Tap: qn.Tap,
		})
		if _, err := c.Start(ctx, qn); err != nil {
			return err
		}
	}
	return nil
}

func (*qemuProvisioner) observe(_ context.Context, st *clusterState) []observedNode {
	out := make([]observedNode, len(st.Nodes))
	for i, n := range st.Nodes {
		o := observedNode{nodeState: n, State: stateDown}
		if pid, ok := qemu.Running(filepath.Join(n.StateDir, "qemu.pid")); ok {
			o.Running, o.State, o.PID = true, "running", pid
		}
		out[i] = o
	}
	return out
}

// act stops (QEMU quits: the guest gets no warning, as when a machine's
// power is cut), starts, or restarts one VM.
func (*qemuProvisioner) act(ctx context.Context, st *clusterState, action lifecycleAction, n nodeState) (string, error) {
	c := qemuCluster(st, filepath.Dir(filepath.Dir(n.StateDir)))
	qn := qemuNode(c, st, n)
	_, wasRunning := qemu.Running(qn.PIDFile)
	if action == lifecycleStop || action == lifecycleRestart {
		if err := c.Stop(ctx, qn); err != nil {
			return "", err
		}
		if action == lifecycleStop {
			if !wasRunning {
				return "was not running", nil
			}
			return "stopped VM " + qn.VM, nil
		}
	}
	if action == lifecycleStart && wasRunning {
		return "already running", nil
	}
	if err := c.Network().Create(); err != nil {
		return "", err
	}
	pid, err := c.Start(ctx, qn)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("started VM %s (pid %d)", qn.VM, pid), nil
}

// destroy stops every VM and removes the network namespace with its
// bridge; the taps go with their VMs, the disks with dir.
func (*qemuProvisioner) destroy(ctx context.Context, st *clusterState, dir string) (string, error) {
	c := qemuCluster(st, dir)
	nodes := make([]qemu.Node, len(st.Nodes))
	for i, n := range st.Nodes {
		nodes[i] = qemuNode(c, st, n)
	}
	stopped, err := c.Destroy(ctx, nodes)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("stopped %d %s, removed network namespace %s (bridge %s)",
		stopped, plural(stopped, "VM", "VMs"), c.Network().Namespace, c.Network().Bridge), nil
}

// logTail reads the end of the VM's serial console: the kernel's and
// cairnd's output, across reboots.
func (*qemuProvisioner) logTail(_ context.Context, _ *clusterState, n nodeState, lines int) ([]string, error) {
	if n.LogFile == "" {
		return nil, errors.New("no console log recorded")
	}
	return tailFile(n.LogFile, lines)
}
