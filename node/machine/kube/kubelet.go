package kube

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/pki"
)

// Kubelet's fixed places on a node.
const (
	// ContainerdSocket is where the node's containerd listens (CRI).
	ContainerdSocket = "/run/containerd/containerd.sock"
	// KubeletHealthzPort is kubelet's plain health port, on loopback only.
	KubeletHealthzPort = 10248
)

// Host is what the machine under kubelet is, as far as kubelet's settings
// depend on it. DetectHost reads it; a test states it.
type Host struct {
	// InContainer: the node is a container (cairnd's container mode), on
	// a host whose disks, swap and kernel are not the node's own.
	InContainer bool
	// CgroupV1: the machine mounts cgroup v1 controllers (a v1 or hybrid
	// host), which kubelet refuses unless failCgroupV1 is false.
	CgroupV1 bool
	// RootIsRamfs: the machine's root is the kernel's initial rootfs (a
	// VM booted from the initramfs), which pivot_root(2) refuses to move:
	// runc must enter each container's root without it (NoPivotRoot).
	RootIsRamfs bool
}

// DetectHost reads the cgroup version from /sys/fs/cgroup (a unified (v2)
// mount has cgroup.controllers at its root) and the root's file system
// type from /proc/self/mountinfo.
func DetectHost(inContainer bool) Host {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	return Host{InContainer: inContainer, CgroupV1: err != nil, RootIsRamfs: rootFSType(string(mountinfo)) == "rootfs"}
}

// rootFSType is the file system type of the topmost mount on / in a
// mountinfo text ("ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - TYPE
// SOURCE SUPER").
func rootFSType(mountinfo string) string {
	fstype := ""
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || f[4] != "/" {
			continue
		}
		for i := 6; i+1 < len(f); i++ {
			if f[i] == "-" {
				fstype = f[i+1]
				break
			}
		}
	}
	return fstype
}

// KernelModules are what kubelet, kube-proxy and the CNI plugins need
// from a kernel that has them as modules (Debian's cloud kernel under
// QEMU): overlayfs for containerd's snapshots, the bridge and veth pairs
// of the bridge plugin, br_netfilter (bridged pod traffic through
// netfilter, which kube-proxy checks for), and nf_tables with every
// expression kube-proxy's nftables rules and masquerading use. A machine
// without modprobe cannot have the kernel load them on demand, so cairnd
// as PID 1 loads them before kubelet starts; the initramfs carries them
// (rootfs/initramfs.KubernetesModules is this list). kube-proxy's tables
// are of families ip and ip6, whose reject needs nft_reject_ipv4 and
// nft_reject_ipv6 (nft_reject_inet serves inet tables only): without them
// a VM's kube-proxy failed every sync ("Could not process rule: No such
// file or directory" at its first reject) and no Service worked, which a
// node container never shows, its host having loaded them.
var KernelModules = []string{
	"overlay", "bridge", "veth", "br_netfilter",
	"nf_conntrack", "nf_nat", "nf_tables", "nft_ct", "nft_nat", "nft_chain_nat", "nft_masq",
	"nft_redir", "nft_reject", "nft_reject_inet", "nft_reject_ipv4", "nft_reject_ipv6", "nft_fib", "nft_fib_inet", "nft_fib_ipv4", "nft_fib_ipv6",
	"nft_numgen", "nft_limit", "nft_hash", "nft_compat",
}

// KubeletLayout is where kubelet's files live under Layout.Dir.
func (l Layout) KubeletDir() string { return filepath.Join(l.Dir, "kubelet") }

// StaticPodDir is kubelet's staticPodPath: the control plane's manifests.
func (l Layout) StaticPodDir() string { return filepath.Join(l.Dir, "manifests") }

// Kubelet is what one node's kubelet is configured from.
type Kubelet struct {
	Layout Layout
	Config *config.Config
	Node   *config.Node
	// IP is the node's own address: kubelet's node IP and listen address.
	IP   string
	Host Host
}

// Configuration renders the node's KubeletConfiguration
// (kubelet.config.k8s.io/v1beta1) from the cluster config and the host:
// x509 and webhook authentication with the Kubernetes CA, webhook
// authorization, the cluster's DNS service IP and domain, the static pod
// directory, containerd's socket, cgroupfs (the one driver a machine
// without systemd has, and what containerd's runc shim is set to),
// cluster.kubernetes.kubelet.maxPods; and what the host asks for: on a
// cgroup v1 host failCgroupV1 false; in a container no resolvConf (the
// image's own, empty one is what a VM's kubelet reads), no swap failure,
// and no image garbage collection or eviction judged against the host's
// disk (as kind and Talos's docker mode set them).
func (k Kubelet) Configuration() (*kubeletv1beta1.KubeletConfiguration, error) {
	netw := k.Config.Cluster.Network
	dns, err := pki.KubeServiceIP(netw.ServiceCIDR, pki.KubeDNSServiceIndex)
	if err != nil {
		return nil, err
	}
	if net.ParseIP(k.IP) == nil {
		return nil, fmt.Errorf("%w: node address %q is not an IP", ErrBadInputs, k.IP)
	}
	yes, no := true, false
	c := &kubeletv1beta1.KubeletConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: kubeletv1beta1.SchemeGroupVersion.String(), Kind: "KubeletConfiguration"},
		Address:  k.IP,
		Authentication: kubeletv1beta1.KubeletAuthentication{
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: filepath.Join(k.Layout.KubeletDir(), "ca.crt")},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: &yes},
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: &no},
		},
		Authorization:            kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		ClusterDNS:               []string{dns.String()},
		ClusterDomain:            netw.DNSDomain,
		StaticPodPath:            k.Layout.StaticPodDir(),
		ContainerRuntimeEndpoint: "unix://" + ContainerdSocket,
		CgroupDriver:             "cgroupfs",
		HealthzBindAddress:       "127.0.0.1",
		HealthzPort:              ptr(int32(KubeletHealthzPort)),
		ReadOnlyPort:             0,
		TLSMinVersion:            "VersionTLS12",
		RotateCertificates:       false, // Cairn issues and renews its client certificate
		// On the state volume: /var/log is not writable on a read-only
		// root (docs/design/kubelet-in-docker.md).
		PodLogsDir: filepath.Join(k.Layout.KubeletDir(), "pod-logs"),
	}
	if n := k.Config.Cluster.Kubernetes.Kubelet.MaxPods; n > 0 {
		c.MaxPods = int32(n)
	}
	if k.Host.CgroupV1 {
		c.FailCgroupV1 = &no
	}
	if k.Host.InContainer {
		// Docker's resolv.conf names its embedded DNS on 127.0.0.11,
		// which a pod's network namespace cannot reach: pods get the
		// cluster DNS only.
		c.ResolverConfig = ptr("")
		c.FailSwapOn = &no
		c.ImageGCHighThresholdPercent, c.ImageGCLowThresholdPercent = ptr(int32(100)), ptr(int32(99))
		c.EvictionHard = map[string]string{
			"memory.available": "0%", "nodefs.available": "0%", "nodefs.inodesFree": "0%",
			"imagefs.available": "0%", "imagefs.inodesFree": "0%",
		}
	}
	return c, nil
}

// ConfigYAML is Configuration as the file kubelet's --config reads.
func (k Kubelet) ConfigYAML() ([]byte, error) {
	c, err := k.Configuration()
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(c)
}

// Args are kubelet's flags: its config file and kubeconfig, the node's
// name and IP, its directories, the node labels of
// cluster.kubernetes.kubelet.nodeLabels (sorted), and extraArgs.
func (k Kubelet) Args() []string {
	dir := k.Layout.KubeletDir()
	ours := map[string]string{
		"config":            filepath.Join(dir, "config.yaml"),
		"kubeconfig":        filepath.Join(dir, "kubeconfig"),
		"hostname-override": k.Node.Name,
		"node-ip":           k.IP,
		"root-dir":          filepath.Join(dir, "root"),
		"cert-dir":          filepath.Join(dir, "pki"),
	}
	labels := k.Config.Cluster.Kubernetes.Kubelet.NodeLabels
	if len(labels) > 0 {
		var parts []string
		for _, key := range slices.Sorted(maps.Keys(labels)) {
			parts = append(parts, key+"="+labels[key])
		}
		ours["node-labels"] = strings.Join(parts, ",")
	}
	return flags(ours, k.Config.Cluster.Kubernetes.Kubelet.ExtraArgs)
}

func ptr[T any](v T) *T { return &v }

// Proxy is kube-proxy on a node: Services programmed with nftables (nft
// from the image), with the kubelet's kubeconfig (the group system:nodes
// is bound to system:node-proxier by Cairn's addons).
type Proxy struct {
	Config     *config.Config
	Node       *config.Node
	Kubeconfig string
}

// Ports of kube-proxy, on loopback only.
const (
	ProxyHealthzPort = 10256
	ProxyMetricsPort = 10249
)

// Args are kube-proxy's flags: nftables mode; every Service connection
// masqueraded (--masquerade-all: without br_netfilter a pod's reply to a
// pod on its own bridge would skip the un-DNAT); the host-wide
// conntrack settings left alone (nf_conntrack_max and the TCP timeouts),
// as kind sets them; health and metrics on loopback; cluster.kubernetes.proxy.extraArgs.
func (p Proxy) Args() []string {
	ours := map[string]string{
		"kubeconfig":             p.Kubeconfig,
		"hostname-override":      p.Node.Name,
		"proxy-mode":             "nftables",
		"cluster-cidr":           p.Config.Cluster.Network.PodCIDR,
		"masquerade-all":         "true",
		"conntrack-max-per-core": "0",
		// Nor the conntrack timeouts: /proc/sys is read-only in a node
		// container (kind zeroes these too).
		"conntrack-tcp-timeout-established": "0s",
		"conntrack-tcp-timeout-close-wait":  "0s",
		"healthz-bind-address":              fmt.Sprintf("127.0.0.1:%d", ProxyHealthzPort),
		"metrics-bind-address":              fmt.Sprintf("127.0.0.1:%d", ProxyMetricsPort),
	}
	return flags(ours, p.Config.Cluster.Kubernetes.Proxy.ExtraArgs)
}
