package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateFile is the name of a local cluster's state record.
const stateFile = "state.json"

// clusterState is state.json: what cluster create set up, so that the
// other cluster commands can find and start every node. It records no
// PIDs: what runs is asked of each node's boot stage (see cluster_node.go).
type clusterState struct {
	Name string `json:"name"`
	// Provisioner is what the nodes are: process (also when empty, as
	// written before provisioners existed), docker or qemu.
	Provisioner string `json:"provisioner,omitempty"`
	Subnet      int    `json:"subnet"`
	// Cairnd is the binary the nodes run; cluster start runs it again.
	Cairnd string `json:"cairnd,omitempty"`
	// ConfigFile is the cluster.yaml every node is started with.
	ConfigFile string `json:"configFile,omitempty"`
	// Timings is cairnd's --timings for every node (default, slow or fast;
	// a VM's cairn.timings=).
	Timings string `json:"timings,omitempty"`
	// Image is the container image the nodes run (docker).
	Image string `json:"image,omitempty"`
	// Kubernetes: the nodes run kubelet (docker: their containers get the
	// privileges a Kubernetes node needs).
	Kubernetes bool `json:"kubernetes,omitempty"`
	// Kernel and Initramfs are what the VMs boot (qemu); MemoryMiB is each
	// VM's memory, 0 for the default.
	Kernel    string `json:"kernel,omitempty"`
	Initramfs string `json:"initramfs,omitempty"`
	MemoryMiB int    `json:"memoryMiB,omitempty"`
	// KernelArgs are appended to every VM's kernel command line (qemu),
	// on every start.
	KernelArgs string `json:"kernelArgs,omitempty"`
	// Network is the private network the nodes talk on: a Docker network
	// (docker) or a bridge (qemu); NetworkCIDR is its subnet.
	Network     string      `json:"network,omitempty"`
	NetworkCIDR string      `json:"networkCIDR,omitempty"`
	Nodes       []nodeState `json:"nodes"`
}

// nodeState is one node of a local cluster.
type nodeState struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// APIAddress is where the host reaches the node's API: its own
	// loopback address 127.0.N.M (a process's listener, a published
	// container port, a VM's host forward).
	APIAddress string `json:"apiAddress"`
	// LogFile is the node's log: its boot stage and cairnd's output, a
	// VM's serial console; empty when the runtime keeps it (docker logs).
	LogFile string `json:"logFile,omitempty"`
	// StateDir is the node's state directory on the host (process), or
	// the directory holding its other files (qemu: disk, sockets).
	StateDir string `json:"stateDir,omitempty"`
	// Address is the node's own address inside its network (container
	// or VM), when that is not APIAddress's host.
	Address string `json:"address,omitempty"`
	// Machine names what runs the node: a container or a VM.
	Machine string `json:"machine,omitempty"`
	// Volume is the Docker volume holding the node's /var/lib/cairn.
	Volume string `json:"volume,omitempty"`
	// Disk is the node's state disk image (qemu).
	Disk string `json:"disk,omitempty"`
	// Tap is the node's tap device on the cluster's bridge (qemu).
	Tap string `json:"tap,omitempty"`
}

// node returns the node called name.
func (st *clusterState) node(name string) (nodeState, bool) {
	for _, n := range st.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return nodeState{}, false
}

// writeState records st in dir/state.json.
func writeState(dir string, st *clusterState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), append(data, '\n'), 0o600)
}

// readState reads dir/state.json; a missing file is ErrClusterNotFound.
func readState(dir string) (*clusterState, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s in %s", ErrClusterNotFound, stateFile, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	var st clusterState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// usedSubnets returns the subnets recorded by every cluster under root, so
// a stopped but not destroyed cluster keeps its addresses.
func usedSubnets(root string) map[int]bool {
	out := map[int]bool{}
	entries, err := os.ReadDir(root)
	if err != nil {
		return out
	}
	for _, e := range entries {
		if st, err := readState(filepath.Join(root, e.Name())); err == nil {
			out[st.Subnet] = true
		}
	}
	return out
}
