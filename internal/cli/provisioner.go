package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cairn-project/cairn/node/cluster/config"
)

// The --provisioner values: what a local cluster's nodes are.
const (
	// provisionerProcess: one cairnd process per node under its boot stage,
	// on 127.0.N.M (the default; needs no root).
	provisionerProcess = "process"
	// provisionerDocker: one container per node from the cairnd image, on
	// a private Docker network, its API published on 127.0.N.M.
	provisionerDocker = "docker"
	// provisionerQEMU: one VM per node booting the kernel and initramfs,
	// on tap devices of a bridge, its API forwarded from 127.0.N.M.
	provisionerQEMU = "qemu"
)

// provisioner makes and runs the nodes of one kind of local cluster. The
// cluster commands are the same for every kind: they read state.json,
// pick the provisioner it records, and call it per node; what a node is
// (a process, a container, a VM) is the provisioner's business. See
// DESIGN.md, "Provisioners".
//
// Every method is idempotent where it can be: destroy of a half-made or
// already destroyed cluster succeeds; stop of a stopped node says so.
type provisioner interface {
	// plan chooses what the configuration generator needs beyond the
	// node counts: the addresses the nodes have inside their network
	// (loopback for processes, the container or VM network otherwise) and
	// the host-side address each node's API is reached on. It runs before
	// anything is made; p.Subnet is already chosen.
	plan(ctx context.Context, p *clusterPlan) error
	// create makes the cluster-wide resources (network, bridge, image)
	// and starts every node of cfg, appending each to st.Nodes (and
	// recording cluster-wide resources in st) as soon as it exists, so that
	// destroy finds whatever a failed create left. The caller writes st.
	create(ctx context.Context, p *clusterPlan, cfg *config.Config, st *clusterState) error
	// observe reports what runs for each node of st, in order, asked of
	// what runs it (boot stage, Docker, QEMU), never taken from state.json.
	observe(ctx context.Context, st *clusterState) []observedNode
	// act stops, starts or restarts one node and says in a few words what
	// it did. Start of a running node and stop of a stopped one succeed.
	act(ctx context.Context, st *clusterState, action lifecycleAction, n nodeState) (string, error)
	// destroy removes everything the provisioner made for st: nodes, and
	// cluster-wide resources (networks, volumes, bridges, taps, disks) but
	// not dir itself, which the caller removes after a nil error. It is safe
	// to run twice and on a half-made cluster. The string summarises what
	// it removed, for the user.
	destroy(ctx context.Context, st *clusterState, dir string) (string, error)
	// logTail returns up to lines last lines of n's log: its cairnd's
	// output (a process's log file, docker logs, a VM's serial console).
	logTail(ctx context.Context, st *clusterState, n nodeState, lines int) ([]string, error)
}

// clusterPlan is what cluster create decided before making anything, and
// what plan adds to it.
type clusterPlan struct {
	// Name is the cluster name, Dir its state directory.
	Name, Dir string
	// Subnet is N of the loopback subnet 127.0.N.0/24 the host side uses.
	Subnet int
	// ControlPlanes and Workers are the node counts.
	ControlPlanes, Workers int
	// Timings is cairnd's --timings for every node.
	Timings string
	// Cairnd is the cairnd binary (the process provisioner runs it; the
	// docker one builds an image from it when the image is missing).
	Cairnd string
	// Etcd is the etcd binary for an image the docker provisioner builds;
	// next to Cairnd when empty.
	Etcd string
	// Image is the container image (docker) the nodes run.
	Image string
	// Kubernetes: the nodes run Kubernetes, so a docker node's image ships
	// it (built from the binaries beside Cairnd and Images, the workload
	// images archive) and its container gets what kubelet needs.
	Kubernetes bool
	Images     string
	// Kernel and Initramfs are what the VMs boot (qemu; found by plan when
	// empty); MemoryMiB is each VM's memory, 0 for the default.
	Kernel, Initramfs string
	MemoryMiB         int
	// KernelArgs are appended to every VM's kernel command line (qemu).
	KernelArgs string
	// Generate are the generator's options; plan may set node addresses
	// and certificate SANs.
	Generate config.GenerateOptions
	// NetworkCIDR is the subnet of the nodes' private network, chosen by
	// plan (docker, qemu).
	NetworkCIDR string
	// HostAPI is each node's API address as the host reaches it, in node
	// order (control planes first). Empty: the configured API address.
	HostAPI []string
}

// hostAPIFor returns the address the host reaches node i's API on: the
// plan's, or the address in the configuration.
func (p *clusterPlan) hostAPIFor(i int, n *config.Node) string {
	if i < len(p.HostAPI) && p.HostAPI[i] != "" {
		return p.HostAPI[i]
	}
	return n.APIEndpoint()
}

// hostControlPlaneEndpoints lists the control planes' API addresses as the
// host reaches them: the endpoints of the admin context.
func (p *clusterPlan) hostControlPlaneEndpoints(cfg *config.Config) []string {
	var out []string
	for i := range cfg.Nodes {
		if cfg.Nodes[i].Role == config.RoleControlPlane {
			out = append(out, p.hostAPIFor(i, &cfg.Nodes[i]))
		}
	}
	return out
}

// provisionerOptions are the flags some provisioners need after create.
type provisionerOptions struct {
	// cairnd overrides the binary recorded at create time, for nodes the
	// process provisioner has to start a new boot stage for.
	cairnd string
}

// provisioners are the known kinds, by --provisioner value. A kind that is
// named but absent here is refused as not implemented yet.
var provisioners = map[string]func(provisionerOptions) provisioner{
	provisionerProcess: func(o provisionerOptions) provisioner { return &processProvisioner{cairndFlag: o.cairnd} },
	provisionerDocker:  func(provisionerOptions) provisioner { return &dockerProvisioner{docker: dockerCLI{}} },
	provisionerQEMU:    func(provisionerOptions) provisioner { return &qemuProvisioner{} },
}

// defaultImageRepo is the repository of the node image (make image tags
// it with the version).
const defaultImageRepo = "cairn/cairnd"

// provisionerNames are the --provisioner values, in help order.
var provisionerNames = []string{provisionerProcess, provisionerDocker, provisionerQEMU}

// newProvisioner returns the provisioner called name; "" is process, as in
// a state.json written before provisioners existed.
func newProvisioner(name string, o provisionerOptions) (provisioner, error) {
	if name == "" {
		name = provisionerProcess
	}
	if mk, ok := provisioners[name]; ok {
		return mk(o), nil
	}
	if slices.Contains(provisionerNames, name) {
		return nil, fmt.Errorf("%w: the %s provisioner", ErrNotImplemented, name)
	}
	return nil, fmt.Errorf("%w: --provisioner %q is not one of %s", ErrUsage, name, strings.Join(provisionerNames, ", "))
}

// provisionerFor returns the provisioner st records.
func provisionerFor(st *clusterState, o provisionerOptions) (provisioner, error) {
	p, err := newProvisioner(st.Provisioner, o)
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", st.Name, err)
	}
	return p, nil
}

// exitedNodes returns ErrNodeExited naming every node that has stopped or
// crashed since it was started, as observe reports it.
func exitedNodes(ctx context.Context, p provisioner, st *clusterState) error {
	var gone []string
	for _, o := range p.observe(ctx, st) {
		if o.exited() {
			gone = append(gone, o.Name)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrNodeExited, strings.Join(gone, ", "))
}
