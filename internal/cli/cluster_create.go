package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/health"
)

// healthRequestTimeout bounds each request while cluster create waits, so a
// node that is still starting cannot stall a round.
const healthRequestTimeout = 3 * time.Second

type clusterCreateOptions struct {
	loc               clusterLocation
	controlPlanes     int
	workers           int
	subnet            int
	kubernetesVersion string
	kubernetes        bool
	cairnd            string
	etcd              string
	waitTimeout       time.Duration
	wait              bool
	timings           string
	provisioner       string
	image             string
	images            string
	kernel, initramfs string
	memoryMiB         int
	kernelArgs        string
}

func newClusterCreateCommand(g *globals) *cobra.Command {
	var o clusterCreateOptions
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a local cluster of cairnd processes, containers or VMs",
		Long: `Generate a cluster configuration on a free loopback subnet 127.0.N.0/24,
start one node per entry in the background, and wait until the cluster is
healthy (see 'cairnctl health'). What a node is, --provisioner says:

  process  a cairnd process on 127.0.N.M (the default; no root needed).
           Each runs as 'cairnd boot', a parent that restarts its cairnd
           after a crash; the nodes keep running after cairnctl exits.
  docker   a container of the node image (--image; built from a static
           --cairnd and the etcd beside it, or --etcd, and loaded when
           Docker lacks it, as 'make image' does)
           on a private Docker network of its own, the node's state on a
           volume, its API published on 127.0.N.M:6440.
  qemu     a VM booting the kernel and initramfs (root; 'make initramfs'),
           on a bridge in a network namespace of the cluster's, its API
           forwarded from 127.0.N.M:6440. With --kubernetes each VM boots
           the initramfs that ships Kubernetes ('make
           initramfs-kubernetes'), with 3 GiB and 2 CPUs, and each control
           plane's apiserver is forwarded from 127.0.N.M:6443.

Everything goes to --state/NAME: cluster.yaml, cairnconfig, state.json (it
records the provisioner, so the other cluster commands need no flag),
and for processes nodes/NODE (node data) and logs/NODE.log. The new context
NAME, with an os:admin client certificate valid for a year, is merged into
the client config (--cairnconfig, $CAIRNCONFIG or $HOME/.cairn/config) and
made current; its endpoints are the control planes' 127.0.N.M addresses.
Manage the nodes with 'cairnctl cluster stop|start|restart|logs NODE' and
remove everything with 'cairnctl cluster destroy'.

If the cluster does not become healthy in --wait-timeout, the last log lines
of the unhealthy nodes are printed and the state is left for debugging.`,
		Example: `  cairnctl cluster create
  cairnctl cluster create --name dev --controlplanes 1 --workers 0
  cairnctl cluster create --kubernetes=false   # no Kubernetes: up in seconds
  cairnctl cluster create --cairnd ./bin/cairnd --subnet 42 --wait-timeout 2m
  cairnctl cluster create --provisioner docker --name dock
  cairnctl cluster create --provisioner qemu --controlplanes 1 --workers 0 --kubernetes --wait=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runClusterCreate(cmd, g, o)
		},
	}
	o.loc.register(cmd)
	f := cmd.Flags()
	f.IntVar(&o.controlPlanes, "controlplanes", 3, "number of control-plane nodes")
	f.IntVar(&o.workers, "workers", 2, "number of worker nodes")
	f.IntVar(&o.subnet, "subnet", 0, "N of the loopback subnet 127.0.N.0/24 (default: the first free one from 10 to 250)")
	f.StringVar(&o.kubernetesVersion, "kubernetes-version", config.DefaultKubernetesVersion, "Kubernetes version")
	f.BoolVar(&o.kubernetes, "kubernetes", true, "run Kubernetes (process: the control plane, from the kube-apiserver, ... links beside --cairnd that 'make kube' builds; docker: the control plane and a kubelet on every node, from an image that ships them; qemu: the same, booting the initramfs that ships them ('make initramfs-kubernetes'), off unless given: a Kubernetes VM takes 3 GiB and 2 vCPUs, and under TCG is a Ready node only after minutes); --kubernetes=false sets cluster.kubernetes.disabled, for a fast start")
	f.StringVar(&o.images, "images", "", "workload images archive for the image built when Docker lacks it (docker with Kubernetes; default: ../images/all.tar from --cairnd's directory, where 'make images' puts it)")
	f.StringVar(&o.cairnd, "cairnd", "", "cairnd binary (default: next to cairnctl, else in PATH)")
	f.DurationVar(&o.waitTimeout, "wait-timeout", 60*time.Second, "how long to wait for the cluster to become healthy")
	f.BoolVar(&o.wait, "wait", true, "wait for the cluster to become healthy (--wait=false: return once the nodes are started; 'cairnctl health --wait' waits later)")
	f.StringVar(&o.etcd, "etcd", "", "static etcd for the image built when Docker lacks it (docker; default: etcd next to --cairnd, as 'make etcd' puts it)")
	f.StringVar(&o.timings, "timings", "", "cairnd timings: default; slow (Raft timeouts tripled, gossip probes doubled: the qemu provisioner's default, its VMs are emulated); or fast (shrunk gossip, Raft and autopilot timeouts, for tests)")
	f.StringVar(&o.provisioner, "provisioner", provisionerProcess, "what the nodes are: process (cairnd processes), docker (containers) or qemu (VMs)")
	f.StringVar(&o.image, "image", "", "container image of the nodes (docker; default "+defaultImageRepo+":VERSION, built from --cairnd when missing)")
	f.StringVar(&o.kernel, "kernel", "", "kernel the VMs boot (qemu; default _out/vmlinuz from 'make initramfs')")
	f.StringVar(&o.initramfs, "initramfs", "", "initramfs the VMs boot, cairnd as /init (qemu; default _out/initramfs.cpio.gz, with --kubernetes _out/initramfs-kubernetes.cpio)")
	f.IntVar(&o.memoryMiB, "memory", 0, "memory of each VM in MiB (qemu; default 512, with --kubernetes 3072)")
	f.StringVar(&o.kernelArgs, "kernel-args", "", "extra kernel command line arguments for every VM, appended last (qemu; for debugging, e.g. \"loglevel=7\", and tests)")
	_ = cmd.MarkFlagFilename("cairnd")
	_ = cmd.MarkFlagFilename("etcd")
	return cmd
}

// timingsNames are cairnd's --timings (node/cluster/formation.ProfileNames).
var timingsNames = []string{"default", "slow", "fast"}

// defaultTimings is a provisioner's --timings: slow for QEMU's VMs, which
// TCG emulates 10–50× slower than the host runs (a vCPU stalled for a
// second deposed healthy Raft leaders of three VMs in CI), default else.
func defaultTimings(provisioner string) string {
	if provisioner == provisionerQEMU {
		return "slow"
	}
	return "default"
}

func runClusterCreate(cmd *cobra.Command, g *globals, o clusterCreateOptions) error {
	ctx := cmd.Context()
	prov, err := newProvisioner(o.provisioner, provisionerOptions{})
	if err != nil {
		return err
	}
	dir, err := o.loc.dir()
	if err != nil {
		return err
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s exists; start its stopped nodes with '%s', restart them with '%s', or remove it with '%s'",
			ErrClusterExists, dir, o.loc.command("start --all"), o.loc.command("restart --all"), o.loc.destroyCommand())
	}
	if o.timings == "" {
		o.timings = defaultTimings(o.provisioner)
	}
	if !slices.Contains(timingsNames, o.timings) {
		return fmt.Errorf("%w: --timings %q: not one of %s", ErrUsage, o.timings, strings.Join(timingsNames, ", "))
	}
	p := &clusterPlan{Name: o.loc.name, Dir: dir, ControlPlanes: o.controlPlanes, Workers: o.workers, Timings: o.timings, Image: o.image, Etcd: o.etcd,
		Kernel: o.kernel, Initramfs: o.initramfs, MemoryMiB: o.memoryMiB, KernelArgs: o.kernelArgs, Images: o.images}
	if o.kernelArgs != "" && o.provisioner != provisionerQEMU {
		return fmt.Errorf("%w: --kernel-args is for --provisioner qemu only", ErrUsage)
	}
	// The docker provisioner needs cairnd only to build a missing image,
	// and says so then; the qemu one boots the cairnd inside the initramfs.
	if o.provisioner != provisionerQEMU {
		if p.Cairnd, err = findCairnd(o.cairnd); err != nil && (o.provisioner != provisionerDocker || o.cairnd != "") {
			return err
		}
	}
	if p.Subnet = o.subnet; p.Subnet == 0 {
		if p.Subnet, err = pickSubnet(usedSubnets(filepath.Dir(dir)), func(n int) bool {
			return subnetFree(n, o.controlPlanes+o.workers)
		}); err != nil {
			return err
		}
	}
	if o.kubernetes && !cmd.Flags().Changed("kubernetes") && o.provisioner == provisionerQEMU {
		o.kubernetes = false // under TCG a VM with Kubernetes takes minutes: asked for only
	}
	p.Kubernetes = o.kubernetes
	if err := checkKubernetesBinaries(o, p.Cairnd); err != nil {
		return err
	}
	p.Generate = config.GenerateOptions{
		ClusterName: o.loc.name, ControlPlanes: o.controlPlanes, Workers: o.workers,
		KubernetesVersion: o.kubernetesVersion, LoopbackSubnet: p.Subnet, KubernetesDisabled: !o.kubernetes,
	}
	if err := prov.plan(ctx, p); err != nil {
		return err
	}
	cfg, err := config.Generate(p.Generate)
	if err != nil {
		return err
	}
	files, err := writeClusterFiles(dir, cfg, p.hostControlPlaneEndpoints(cfg))
	if err != nil {
		return err
	}
	out := g.streams.Out
	fmt.Fprintf(out, "creating cluster %q (%s): %d control %s, %d %s on 127.0.%d.0/24 (state in %s)\n",
		o.loc.name, o.provisioner, o.controlPlanes, plural(o.controlPlanes, "plane", "planes"),
		o.workers, plural(o.workers, "worker", "workers"), p.Subnet, dir)
	st := &clusterState{Name: cfg.Cluster.Name, Provisioner: o.provisioner, Subnet: p.Subnet, ConfigFile: files.cluster, Timings: o.timings, Kubernetes: o.kubernetes}
	// state.json comes first, so that destroy knows the provisioner of a
	// create that fails or is interrupted.
	if err := writeState(dir, st); err != nil {
		return err
	}
	if err := errors.Join(prov.create(ctx, p, cfg, st), writeState(dir, st)); err != nil {
		return fmt.Errorf("%w; clean up with '%s'", err, o.loc.destroyCommand())
	}
	admin := files.context
	tlsCfg, err := admin.tlsConfig(time.Now())
	if err != nil {
		return err
	}
	if !o.wait {
		return finishCreate(g, o.loc, admin, files.client, o.kubernetes, false)
	}
	c := newAPIClient(admin.Endpoints, min(g.timeout, healthRequestTimeout), tlsCfg)
	defer c.Close()
	checks, err := waitHealthy(ctx, c, out, healthWait{
		wait: true, timeout: o.waitTimeout, what: fmt.Sprintf("cluster %q to become healthy", o.loc.name),
		abort: func() error { return exitedNodes(ctx, prov, st) },
	})
	if err != nil {
		nodes := prov.observe(ctx, st)
		printNodeLogs(ctx, g.streams.Err, prov, st, nodes, failingNodes(nodes, checks))
		return fmt.Errorf("%w; state left in %s for debugging, remove it with '%s'", err, dir, o.loc.destroyCommand())
	}
	return finishCreate(g, o.loc, admin, files.client, o.kubernetes, true)
}

// finishCreate merges the new admin context into the client config and
// says what to do next; healthy says whether create waited for health.
func finishCreate(g *globals, loc clusterLocation, admin Context, clusterClientConfig string, kubernetes, healthy bool) error {
	name := loc.name
	path, err := g.clientConfigPath()
	if err != nil {
		return err
	}
	cc, err := ReadClientConfig(path)
	if err != nil {
		return err
	}
	cc.Merge(name, admin, true)
	if err := WriteClientConfig(path, cc); err != nil {
		return err
	}
	out := g.streams.Out
	if healthy {
		fmt.Fprintf(out, "\ncluster %q is healthy\n", name)
	} else {
		fmt.Fprintf(out, "\ncluster %q is starting (not waited for: 'cairnctl health --wait' waits until it is healthy)\n", name)
	}
	fmt.Fprintf(out, "endpoints: %s\n", strings.Join(admin.Endpoints, ", "))
	fmt.Fprintf(out, "context %q merged into %s and made current\n\n", name, path)
	fmt.Fprintf(out, "next:\n")
	fmt.Fprintf(out, "  cairnctl --cairnconfig %s get members\n", clusterClientConfig)
	fmt.Fprintf(out, "  cairnctl get members\n  cairnctl health\n  cairnctl config get\n")
	if kubernetes {
		fmt.Fprintf(out, "  cairnctl kubeconfig            # merge an admin kubeconfig into ~/.kube/config\n")
		fmt.Fprintf(out, "  kubectl get --raw /readyz      # (_out/bin/kubectl is a link to the kube binary)\n")
	}
	fmt.Fprintf(out, "  %s\n", loc.command("restart NODE"))
	fmt.Fprintf(out, "  %s\n", loc.destroyCommand())
	return nil
}

// failingNodes picks the nodes whose logs explain a failure: those not
// running, then those the checks implicate, else all of them.
func failingNodes(nodes []observedNode, checks []health.Check) []string {
	seen := map[string]bool{}
	var out []string
	addNode := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, o := range nodes {
		if !o.Running || o.Restarts > 0 {
			addNode(o.Name)
		}
	}
	for _, c := range checks {
		for _, n := range c.Nodes {
			addNode(n)
		}
	}
	if len(out) == 0 {
		for _, n := range nodes {
			addNode(n.Name)
		}
	}
	return out
}

// findCairnd locates the cairnd binary: the flag, then next to the running
// executable, then PATH.
func findCairnd(flag string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Errorf("%w: --cairnd: %w", ErrCairndNotFound, err)
		}
		return filepath.Abs(flag)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "cairnd")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("cairnd"); err == nil {
		return filepath.Abs(p)
	}
	return "", fmt.Errorf("%w next to cairnctl or in PATH; build it with 'go build ./cmd/cairnd' and pass --cairnd", ErrCairndNotFound)
}

// checkKubernetesBinaries refuses --kubernetes where the nodes would lack
// the binaries: a process-mode node runs the control plane from the
// links beside its cairnd ('make kube' puts them there); the node image
// and the Kubernetes initramfs ship them (ensureImage and plan say what a
// missing one needs).
func checkKubernetesBinaries(o clusterCreateOptions, cairnd string) error {
	if !o.kubernetes || o.provisioner != provisionerProcess {
		return nil
	}
	dir := filepath.Dir(cairnd)
	for _, name := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("%w: Kubernetes needs %s beside cairnd (%s): build it with 'make kube' (about 15 minutes the first time), or create the cluster with --kubernetes=false",
				ErrUsage, name, dir)
		}
	}
	return nil
}
