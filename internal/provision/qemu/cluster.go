// Package qemu runs a local Cairn cluster as QEMU VMs (TCG): one VM per
// node booting the kernel and initramfs of rootfs/initramfs, a private
// bridge between them in a network namespace of the cluster's, a state
// disk each, and a host forward of each node's API to 127.0.N.M. The CLI
// provisioner (internal/cli) drives it; see DESIGN.md.
package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Defaults for a VM.
const (
	DefaultMemoryMiB = 512
	DefaultDiskSize  = 2 << 30 // sparse: a fresh disk takes no space
	// A Kubernetes node's VM: the initramfs alone holds some 600 MiB
	// (kube, the runtime, the workload images) in memory, then etcd, the
	// apiserver and kubelet run; containerd's content and snapshots and
	// kubelet's eviction thresholds want room on the state disk; two
	// virtual CPUs let TCG use both host threads for one VM.
	KubernetesMemoryMiB = 3072
	KubernetesDiskSize  = 8 << 30
	KubernetesCPUs      = 2
	// kubeAPIPort is kube-apiserver's (node/machine/kube), forwarded from
	// the host like the node API.
	kubeAPIPort = 6443
	// guestHostNet is the address of the user-mode NIC in every VM, the
	// one QEMU's slirp gives (10.0.2.15 in 10.0.2.0/24).
	guestHostNet  = guestHostAddr + "/24"
	guestHostAddr = "10.0.2.15"
	apiPort       = 6440
	// stopGrace is how long Stop waits after SIGTERM, then SIGKILL.
	stopGrace = 5 * time.Second
)

// Cluster is where a cluster's VMs live and how they are addressed. Node
// i (1-based, control planes first) has 10.N.0.i/24 on the bridge (eth0),
// where its API, gossip and Raft listen, and is reached from the host at
// 127.0.N.i:6440, forwarded by its user-mode NIC to 10.N.0.i:6440.
type Cluster struct {
	// Name is the cluster's name; Dir its state directory.
	Name, Dir string
	// Subnet is N of 127.0.N.0/24 on the host and 10.N.0.0/24 inside.
	Subnet int
	// Kernel and Initramfs are what every VM boots.
	Kernel, Initramfs string
	// Config is the cluster.yaml passed through fw_cfg; empty boots the
	// node without one (maintenance mode).
	Config    string
	MemoryMiB int
	DiskSize  int64
	// KernelArgs are appended to every VM's kernel command line (a
	// debugging switch, a test-only cairn.testservice=).
	KernelArgs string
	// Kubernetes: the VMs run Kubernetes (the initramfs ships it). Each
	// gets the Kubernetes defaults where MemoryMiB, DiskSize or CPUs are
	// zero, and the host reaches its apiserver at 127.0.N.i:6443.
	Kubernetes bool
	// Timings is cairnd's timing profile (cairn.timings=: default, slow,
	// fast), or "" for cairnd's own default. The CLI passes slow.
	Timings string
	// CPUs is each VM's virtual CPUs: 1 when zero (KubernetesCPUs with
	// Kubernetes).
	CPUs int
}

// HostKubeAPI is where the host reaches node i's apiserver (a control
// plane of a cluster with Kubernetes).
func (c Cluster) HostKubeAPI(i int) string {
	return net.JoinHostPort(c.HostAddress(i), strconv.Itoa(kubeAPIPort))
}

// sizes are a VM's memory, disk and CPUs: what the cluster says, else
// the defaults for what it runs.
func (c Cluster) sizes() (memMiB int, disk int64, cpus int) {
	memMiB, disk, cpus = DefaultMemoryMiB, DefaultDiskSize, 1
	if c.Kubernetes {
		memMiB, disk, cpus = KubernetesMemoryMiB, KubernetesDiskSize, KubernetesCPUs
	}
	return orDefault(c.MemoryMiB, memMiB), orDefault(c.DiskSize, disk), orDefault(c.CPUs, cpus)
}

// Check says whether this host can run VMs: root, QEMU, /dev/net/tun.
func Check() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	if _, err := exec.LookPath(Binary); err != nil {
		return ErrNoQEMU
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return ErrNoTun
	}
	return nil
}

// Network is the cluster's bridge. The namespace is named for the
// cluster and its subnet (two clusters of one name under different state
// directories cannot share a subnet); the bridge name fits IFNAMSIZ.
func (c Cluster) Network() Network {
	return Network{
		Namespace: "cairn-" + c.Name + "-" + strconv.Itoa(c.Subnet),
		Bridge:    "br-" + shortName(c.Name, 12),
	}
}

// CIDR is the bridge's subnet.
func (c Cluster) CIDR() string { return fmt.Sprintf("10.%d.0.0/24", c.Subnet) }

// NodeAddress is node i's address on the bridge, with its prefix.
func (c Cluster) NodeAddress(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(c.Subnet), 0, byte(i)}), 24)
}

// HostAPI is where the host reaches node i's API.
func (c Cluster) HostAPI(i int) string {
	return net.JoinHostPort(fmt.Sprintf("127.0.%d.%d", c.Subnet, i), strconv.Itoa(apiPort))
}

// HostAddress is the host side of node i's API forward, without port.
func (c Cluster) HostAddress(i int) string { return fmt.Sprintf("127.0.%d.%d", c.Subnet, i) }

// Node is one VM's names and files.
type Node struct {
	Name string
	// Index is the node's number in the address plan (1-based).
	Index int
	// VM is the QEMU name, Tap the tap's name in the namespace.
	VM, Tap string
	// Dir holds Disk and PIDFile; Console is the serial log.
	Dir, Disk, PIDFile, Console string
}

// Node returns the layout of node name, number i.
func (c Cluster) Node(name string, i int) Node {
	dir := filepath.Join(c.Dir, "nodes", name)
	return Node{
		Name: name, Index: i,
		VM:  "cairn-" + c.Name + "-" + name,
		Tap: "tap-" + shortName(name, 11),
		Dir: dir, Disk: filepath.Join(dir, "disk.raw"), PIDFile: filepath.Join(dir, "qemu.pid"),
		Console: filepath.Join(c.Dir, "logs", name+".log"),
	}
}

// mac is a locally administered address: 02:ca:N:nic:00:i.
func (c Cluster) mac(nic, i int) net.HardwareAddr {
	return net.HardwareAddr{0x02, 0xca, byte(c.Subnet), byte(nic), 0, byte(i)}
}

// VM is node n's machine.
func (c Cluster) VM(n Node) VM {
	hostMAC := c.mac(1, n.Index)
	cmdline := fmt.Sprintf("console=ttyS0 panic=5 cairn.node=%s cairn.hostnet=%s,%s", n.Name, hostMAC, guestHostNet)
	if c.Config != "" {
		cmdline += " cairn.config=fwcfg"
	}
	if c.Timings != "" {
		cmdline += " cairn.timings=" + c.Timings
	}
	if c.KernelArgs != "" { // last: the kernel takes the last of a repeated argument
		cmdline += " " + c.KernelArgs
	}
	api := net.JoinHostPort(guestHostAddr, strconv.Itoa(apiPort))
	// The forward goes to the user-mode NIC's own address, where cairnd as
	// PID 1 listens too (it listens on every address), and where the
	// maintenance API is reachable before the node has a config and so any
	// address of its own.
	fwd := []Forward{{Host: c.HostAPI(n.Index), Guest: api}}
	if c.Kubernetes {
		// kube-apiserver listens on the node's bridge address only; slirp
		// reaches it there by ARP on eth1 (the node answers for every
		// address of its own on every link).
		kube := net.JoinHostPort(c.NodeAddress(n.Index).Addr().String(), strconv.Itoa(kubeAPIPort))
		fwd = append(fwd, Forward{Host: c.HostKubeAPI(n.Index), Guest: kube})
	}
	mem, _, cpus := c.sizes()
	return VM{
		Name: n.VM, Kernel: c.Kernel, Initramfs: c.Initramfs, Cmdline: cmdline, Config: c.Config,
		Disk: n.Disk, MemoryMiB: mem, CPUs: cpus,
		ClusterMAC: c.mac(0, n.Index), HostMAC: hostMAC,
		Forwards: fwd,
		Console:  n.Console, PIDFile: n.PIDFile,
	}
}

// Start boots node n (creating its disk the first time) on a new tap of
// the cluster's bridge, which must exist (Network().Create).
func (c Cluster) Start(ctx context.Context, n Node) (int, error) {
	if pid, ok := Running(n.PIDFile); ok {
		return pid, nil
	}
	for _, d := range []string{n.Dir, filepath.Dir(n.Console)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return 0, err
		}
	}
	_, disk, _ := c.sizes()
	if err := CreateDisk(n.Disk, disk); err != nil {
		return 0, err
	}
	tap, err := c.Network().Tap(n.Tap)
	if err != nil {
		return 0, err
	}
	defer tap.Close() // QEMU holds its own copy
	return Start(ctx, c.VM(n), tap)
}

// Stop ends node n's VM, if it runs.
func (c Cluster) Stop(ctx context.Context, n Node) error { return Stop(ctx, n.PIDFile, stopGrace) }

// Destroy stops every VM of nodes, and any other VM with a pidfile under
// Dir/nodes (one started outside the state record, or by a create that
// failed before recording it), then removes the network. Disks and logs
// stay in Dir, which the caller removes. Safe to run twice.
func (c Cluster) Destroy(ctx context.Context, nodes []Node) (stopped int, err error) {
	pidFiles := map[string]bool{}
	for _, n := range nodes {
		pidFiles[n.PIDFile] = true
	}
	others, _ := filepath.Glob(filepath.Join(c.Dir, "nodes", "*", "qemu.pid"))
	for _, p := range others {
		pidFiles[p] = true
	}
	var errs []error
	for p := range pidFiles {
		if _, ok := Running(p); !ok {
			continue
		}
		if err := Stop(ctx, p, stopGrace); err != nil {
			errs = append(errs, err)
			continue
		}
		stopped++
	}
	errs = append(errs, c.Network().Delete())
	return stopped, errors.Join(errs...)
}

// shortName is s if it has at most max bytes, else a prefix and a hash
// of s, so that long names stay distinct within IFNAMSIZ.
func shortName(s string, max int) string {
	if len(s) <= max {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return s[:max-5] + "-" + hex.EncodeToString(h[:2])
}

func orDefault[T int | int64](v, d T) T {
	if v == 0 {
		return d
	}
	return v
}
