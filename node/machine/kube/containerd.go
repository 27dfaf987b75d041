package kube

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
)

// Where the node image (rootfs/image) puts what kubelet's runtime needs
// besides the binaries of cairnd's --kubernetes directory; a test of
// cmd/cairnd keeps them equal to rootfs/image's without linking the image
// builder into cairnd.
const (
	ImageCNIBinDir      = "/opt/cni/bin"
	ImageWorkloadImages = "/usr/share/cairn/images.tar"
	// ImageNftDir holds nft, which kube-proxy's nftables mode execs.
	ImageNftDir = "/usr/sbin"
)

// CoreDNSImage is the cluster DNS image: CoreDNS from tools/coredns (the
// version pinned in its go.mod; a test keeps them equal), packed by
// rootfs/images, imported at boot.
const CoreDNSImage = "registry.k8s.io/coredns/coredns:v1.15.0"

// SandboxImage is the pod sandbox image: Cairn's own pause
// (rootfs/images), imported at boot, pinned so that kubelet's image
// garbage collection never removes it.
const SandboxImage = "registry.k8s.io/pause:3.10.2"

// ContainerdNamespace is the containerd namespace of the CRI (kubelet's
// images and containers).
const ContainerdNamespace = "k8s.io"

// Containerd is what the node's containerd is configured from: where its
// programs and the CNI plugins are, and where it keeps its data (Root, on
// the state volume) and its sockets and tasks (State, on /run).
type Containerd struct {
	BinDir, CNIBinDir, CNIConfDir string
	Root, State                   string
	// NoPivotRoot makes runc enter a container's root by moving it and
	// chrooting, where the machine's root is the initramfs (Host.
	// RootIsRamfs), which pivot_root(2) cannot leave.
	NoPivotRoot bool
}

// ConfigDir is where the containerd config and the CNI configuration live
// under Layout.Dir.
func (l Layout) ContainerdConfig() string { return filepath.Join(l.Dir, "containerd.toml") }

// CNIConfDir is the CNI configuration directory (containerd's conf_dir).
func (l Layout) CNIConfDir() string { return filepath.Join(l.Dir, "cni") }

// ConfigTOML renders containerd's config (version 4, containerd 2.x): no
// imports of the host's /etc/containerd, the CRI socket at
// ContainerdSocket, the sandbox image pinned, runc from BinDir,
// restrict_oom_score_adj (a node container lacks CAP_SYS_RESOURCE, so it
// may not lower a score below its own), NoPivotRoot, the CNI plugins and config
// directory. The snapshotter is overlayfs, which works on the state
// volume (not on a fuse-overlayfs root: docs/design/kubelet-in-docker.md).
func (c Containerd) ConfigTOML() []byte {
	return fmt.Appendf(nil, `# Written by cairnd (node/machine/kube): every change is overwritten.
version = 4
root = %[1]q
state = %[2]q
imports = []

[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = %[3]q
  [plugins.'io.containerd.server.v1.ttrpc']
    address = "%[3]s.ttrpc"
  [plugins.'io.containerd.server.v1.debug']
    address = ""
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %[4]q
  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = %[5]q
      NoPivotRoot = %[8]t
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [%[6]q]
      conf_dir = %[7]q
`, c.Root, c.State, ContainerdSocket, SandboxImage, filepath.Join(c.BinDir, "runc"), c.CNIBinDir, c.CNIConfDir, c.NoPivotRoot)
}

// CNIBridge is the node's pod network interface, the bridge the CNI
// plugin makes.
const CNIBridge = "cni0"

// CNIConfFile is the conflist's name in the CNI config directory.
const CNIConfFile = "10-cairn.conflist"

// CNIConfList renders the node's pod network: a bridge (cni0) whose
// address is the first of podCIDR and the pods' gateway, host-local IPAM
// over the rest of podCIDR (its state on /run, so a restarted node
// container starts with every address free, as its pods are gone), no
// masquerade and no port mapping (both exec iptables; traffic between
// nodes' pods is routed by Cairn, node/machine/podroutes).
func CNIConfList(podCIDR string) ([]byte, error) {
	pfx, err := netip.ParsePrefix(podCIDR)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 30 {
		return nil, fmt.Errorf("%w: pod CIDR %q is not an IPv4 network of /30 or more", ErrBadInputs, podCIDR)
	}
	pfx = pfx.Masked()
	gw := pfx.Addr().Next()
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "cairn",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": CNIBridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type": "host-local", "dataDir": "/run/cni/networks",
					"ranges": []any{[]any{map[string]any{"subnet": pfx.String(), "gateway": gw.String()}}},
					"routes": []any{map[string]any{"dst": "0.0.0.0/0"}},
				},
			},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}
