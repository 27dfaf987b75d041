package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/rootfs/image"
)

// Labels on everything the docker provisioner makes, so that destroy finds
// it all by the cluster's name, even what a failed create did not record.
const (
	dockerLabelCluster = "io.cairn.cluster"
	dockerLabelNode    = "io.cairn.node"
)

// dockerStopTimeout is the grace docker stop and restart give cairnd
// after SIGTERM before SIGKILL.
const dockerStopTimeout = 10

// dockerProvisioner runs each node as a container of the cairnd image
// (rootfs/image) in container mode: on a private Docker network with a
// subnet of its own, the node's state on a named volume at /var/lib/cairn,
// a read-only root with tmpfs /run and /tmp, the cluster config in the
// environment, restarted by Docker when cairnd fails. The host reaches
// each node's API on 127.0.N.M:6440, published from the container; all
// node-to-node traffic stays on the Docker network.
type dockerProvisioner struct {
	docker docker
	// hostPrefixes lists the host's own subnets; hostSubnets when nil.
	hostPrefixes func() []netip.Prefix
}

// The names of what a cluster's containers, network and volumes are
// called: cairn-CLUSTER, cairn-CLUSTER-NODE.
func dockerNetworkName(cluster string) string         { return "cairn-" + cluster }
func dockerContainerName(cluster, node string) string { return "cairn-" + cluster + "-" + node }

// plan checks that Docker answers and that nothing of that name exists,
// picks the network's subnet, and gives node i (from 0) the address
// .i+2 in it (the gateway is .1) and the host-side API 127.0.N.i+1. The
// config names the address in the node's endpoints only, not as a link
// address: Docker assigns it, and names the interface anew on a network
// reconnect (eth0 becomes eth1), so a node that owned "eth0" would fail
// to apply its network after one.
func (dp *dockerProvisioner) plan(ctx context.Context, p *clusterPlan) error {
	if _, err := dp.docker.run(ctx, nil, "version", "--format", "{{.Server.Version}}"); err != nil {
		return fmt.Errorf("the docker provisioner needs a running Docker: %w", err)
	}
	netName := dockerNetworkName(p.Name)
	if _, err := dp.docker.run(ctx, nil, "network", "inspect", netName); err == nil {
		return fmt.Errorf("%w: Docker network %s exists (a cluster %q under another --state?); remove it with 'docker network rm %s'",
			ErrClusterExists, netName, p.Name, netName)
	}
	taken, err := dp.takenPrefixes(ctx)
	if err != nil {
		return err
	}
	cidr, err := pickNetworkCIDR(p.Subnet, taken)
	if err != nil {
		return err
	}
	if p.Image == "" {
		// An image with Kubernetes is another image: its own tag.
		p.Image = defaultImageRepo + ":" + version.Version
		if p.Kubernetes {
			p.Image += "-k8s"
		}
	}
	base := cidr.Addr().As4()
	total := p.ControlPlanes + p.Workers
	if total > 250 {
		return fmt.Errorf("%w: at most 250 docker nodes", ErrUsage)
	}
	for i := range total {
		ip := netip.AddrFrom4([4]byte{base[0], base[1], base[2], byte(i + 2)})
		host := fmt.Sprintf("127.0.%d.%d", p.Subnet, i+1)
		p.Generate.NodeHosts = append(p.Generate.NodeHosts, ip.String())
		p.Generate.CertSANs = append(p.Generate.CertSANs, []string{host})
		p.HostAPI = append(p.HostAPI, hostPort(host, config.DefaultAPIPort))
	}
	p.NetworkCIDR = cidr.String()
	if p.Kubernetes {
		// The host reaches the apiservers on the published ports
		// (runNode): kubectl on the host uses the first control plane's.
		p.Generate.KubernetesEndpoint = "https://" + hostPort(fmt.Sprintf("127.0.%d.1", p.Subnet), dockerKubeAPIPort)
	}
	return nil
}

// dockerKubeAPIPort is kube-apiserver's port (node/machine/kube), which
// a Kubernetes cluster's control-plane containers publish on their
// 127.0.N.M.
const dockerKubeAPIPort = 6443

// hostPort joins host and port.
func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// takenPrefixes are the IPv4 subnets the cluster network must not overlap:
// every Docker network's, the host's own addresses', and the pod and
// service networks the generated config uses.
func (dp *dockerProvisioner) takenPrefixes(ctx context.Context) ([]netip.Prefix, error) {
	taken := []netip.Prefix{netip.MustParsePrefix(config.DefaultPodCIDR), netip.MustParsePrefix(config.DefaultServiceCIDR)}
	ids, err := dp.docker.run(ctx, nil, "network", "ls", "--quiet")
	if err != nil {
		return nil, err
	}
	if ids := strings.Fields(ids); len(ids) > 0 {
		out, err := dp.docker.run(ctx, nil, append([]string{"network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}"}, ids...)...)
		if err != nil && !errors.Is(err, errDockerNotFound) { // a network removed meanwhile
			return nil, err
		}
		for _, s := range strings.Fields(out) {
			if pfx, err := netip.ParsePrefix(s); err == nil {
				taken = append(taken, pfx)
			}
		}
	}
	host := dp.hostPrefixes
	if host == nil {
		host = hostSubnets
	}
	return append(taken, host()...), nil
}

// hostSubnets are the subnets of the host's addresses, but loopback.
func hostSubnets() []netip.Prefix {
	var out []netip.Prefix
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if pfx, err := netip.ParsePrefix(a.String()); err == nil && !pfx.Addr().IsLoopback() {
				out = append(out, pfx.Masked())
			}
		}
	}
	return out
}

// pickNetworkCIDR returns 10.N.0.0/24, N being the loopback subnet's, or
// else the first 10.X.0.0/24 from 10 to 250 that overlaps nothing taken.
func pickNetworkCIDR(n int, taken []netip.Prefix) (netip.Prefix, error) {
	candidates := []int{n}
	for x := firstAutoSubnet; x <= lastAutoSubnet; x++ {
		if x != n {
			candidates = append(candidates, x)
		}
	}
	for _, x := range candidates {
		if x < 0 || x > 255 {
			continue
		}
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(x), 0, 0}), 24)
		free := true
		for _, t := range taken {
			if t.Overlaps(pfx) {
				free = false
				break
			}
		}
		if free {
			return pfx, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: every 10.X.0.0/24 overlaps a Docker network or a host address", ErrNoFreeSubnet)
}

// create makes sure the image is there (building it from cairnd when it
// is not), creates the network, then a volume and a container per node.
func (dp *dockerProvisioner) create(ctx context.Context, p *clusterPlan, cfg *config.Config, st *clusterState) error {
	if err := dp.ensureImage(ctx, p); err != nil {
		return err
	}
	st.Image = p.Image
	st.Network, st.NetworkCIDR = dockerNetworkName(p.Name), p.NetworkCIDR
	cidr := netip.MustParsePrefix(p.NetworkCIDR)
	gw := cidr.Addr().As4()
	gw[3] = 1
	if _, err := dp.docker.run(ctx, nil, "network", "create", "--driver", "bridge",
		"--subnet", cidr.String(), "--gateway", netip.AddrFrom4(gw).String(),
		"--label", dockerLabelCluster+"="+p.Name, st.Network); err != nil {
		return err
	}
	doc, err := os.ReadFile(st.ConfigFile)
	if err != nil {
		return fmt.Errorf("read the cluster config: %w", err)
	}
	for i, n := range cfg.Nodes {
		ns := nodeState{
			Name: n.Name, Role: string(n.Role), APIAddress: p.hostAPIFor(i, &cfg.Nodes[i]), Address: p.Generate.NodeHosts[i],
			Machine: dockerContainerName(p.Name, n.Name), Volume: dockerContainerName(p.Name, n.Name),
		}
		st.Nodes = append(st.Nodes, ns)
		if err := dp.runNode(ctx, st, ns, string(doc)); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	return nil
}

// ensureImage builds and loads the image when Docker does not have it,
// from cairnd and the etcd beside it (or --etcd): the image ships both.
func (dp *dockerProvisioner) ensureImage(ctx context.Context, p *clusterPlan) error {
	if _, err := dp.docker.run(ctx, nil, "image", "inspect", "--format", "{{.Id}}", p.Image); err == nil {
		return nil
	} else if !errors.Is(err, errDockerNotFound) {
		return err
	}
	if p.Cairnd == "" {
		return fmt.Errorf("%w: image %s is not in Docker, and there is no cairnd to build it from; run 'make image' or pass --cairnd", ErrCairndNotFound, p.Image)
	}
	etcd, err := findEtcd(p.Etcd, p.Cairnd)
	if err != nil {
		return fmt.Errorf("image %s is not in Docker: %w", p.Image, err)
	}
	created, err := image.SourceDateEpoch()
	if err != nil {
		return err
	}
	bins := map[string]string{image.EtcdPath: etcd}
	var files map[string]image.File
	if p.Kubernetes {
		dir := filepath.Dir(p.Cairnd)
		archive := p.Images
		if archive == "" {
			archive = filepath.Join(dir, "..", "images", "all.tar")
		}
		kbins, kfiles, err := image.KubernetesFiles(dir, archive)
		if err != nil {
			return fmt.Errorf("image %s is not in Docker, and %w: build them with 'make kube containerd images' (about 15 minutes the first time), or create the cluster with --kubernetes=false", p.Image, err)
		}
		for k, v := range kbins {
			bins[k] = v
		}
		files = kfiles
	}
	img, _, err := image.FromFile(p.Cairnd, bins, files, created)
	if errors.Is(err, image.ErrNotStatic) {
		return fmt.Errorf("image %s is not in Docker: %w; run 'make image', or pass a cairnd and an etcd built with CGO_ENABLED=0", p.Image, err)
	}
	if err != nil {
		return err
	}
	if _, err := image.Load(img, p.Image); err != nil {
		return err
	}
	return nil
}

// findEtcd locates the etcd binary for the image: the flag, else next to
// cairnd, where `make etcd` and `make build` put the two (_out/bin). Not
// PATH: a distribution's etcd is another version, and dynamically linked.
func findEtcd(flag, cairnd string) (string, error) {
	if flag != "" {
		if _, err := os.Stat(flag); err != nil {
			return "", fmt.Errorf("%w: --etcd: %w", ErrEtcdNotFound, err)
		}
		return filepath.Abs(flag)
	}
	p := filepath.Join(filepath.Dir(cairnd), "etcd")
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		return "", fmt.Errorf("%w: none at %s, next to cairnd; build it with 'make etcd' (it writes _out/bin/etcd, beside make build's cairnd) or pass --etcd", ErrEtcdNotFound, p)
	}
	return p, nil
}

// runNode creates the node's volume and starts its container.
func (dp *dockerProvisioner) runNode(ctx context.Context, st *clusterState, n nodeState, doc string) error {
	if _, err := dp.docker.run(ctx, nil, "volume", "create",
		"--label", dockerLabelCluster+"="+st.Name, "--label", dockerLabelNode+"="+n.Name, n.Volume); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(n.APIAddress)
	if err != nil {
		return fmt.Errorf("host API address %q: %w", n.APIAddress, err)
	}
	args := []string{"run", "--detach", "--name", n.Machine, "--hostname", n.Name,
		"--label", dockerLabelCluster + "=" + st.Name, "--label", dockerLabelNode + "=" + n.Name,
		"--network", st.Network, "--ip", n.Address,
		"--publish", hostPort(host, config.DefaultAPIPort) + ":" + strconv.Itoa(config.DefaultAPIPort),
		"--restart", "on-failure", "--stop-timeout", strconv.Itoa(dockerStopTimeout),
		"--read-only", "--tmpfs", "/run", "--tmpfs", "/tmp",
		// /var is the node's disk: cairnd's state in /var/lib/cairn,
		// containerd's images and kubelet's pods beside it.
		"--volume", n.Volume + ":/var",
	}
	if st.Kubernetes {
		args = append(args, kubernetesNodeArgs...)
		if n.Role == string(config.RoleControlPlane) {
			args = append(args, "--publish", hostPort(host, dockerKubeAPIPort)+":"+strconv.Itoa(dockerKubeAPIPort))
		}
	} else {
		// Container mode owns the container's network namespace: links,
		// routes and sysctls the config adds.
		args = append(args, "--cap-add", "NET_ADMIN")
	}
	args = append(args,
		// The config holds the cluster secrets: passed by name, from this
		// process's environment, so it is not on a command line.
		"--env", "CAIRN_CONFIG_DATA", "--env", "CAIRN_NODE="+n.Name,
		st.Image, "--mode", "container", "--state-dir", image.StateDir, "--log-format", "text",
	)
	if st.Timings != "" {
		args = append(args, "--timings", st.Timings)
	}
	_, err = dp.docker.run(ctx, []string{"CAIRN_CONFIG_DATA=" + doc}, args...)
	return err
}

// kubernetesNodeArgs are what a Kubernetes node container needs, in place
// of kind's --privileged, which fails where dockerd itself lacks
// CAP_SYS_RESOURCE (docs/design/kubelet-in-docker.md): every capability
// but that one; no seccomp filter (runc creates session keyrings and
// pivots roots for the pods); every device (privileged pods) and
// /dev/kmsg (kubelet's OOM watcher); a cgroup namespace of its own, so
// the node's cgroups are its own tree; IP forwarding for the pods'
// traffic. cairnd then remounts /sys writable and shows kubelet the
// sysctls it wants (node/machine/kubehost).
var kubernetesNodeArgs = []string{
	"--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
	"--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
	"--device-cgroup-rule", "a *:* rwm", "--device", "/dev/kmsg",
	"--cgroupns", "private",
	"--sysctl", "net.ipv4.ip_forward=1",
}

// dockerState is the part of 'docker container inspect' observe reads.
type dockerState struct {
	State struct {
		Status     string    `json:"Status"`
		Running    bool      `json:"Running"`
		Restarting bool      `json:"Restarting"`
		Pid        int       `json:"Pid"`
		ExitCode   int       `json:"ExitCode"`
		StartedAt  time.Time `json:"StartedAt"`
	} `json:"State"`
	RestartCount int `json:"RestartCount"`
}

// observe inspects each node's container.
func (dp *dockerProvisioner) observe(ctx context.Context, st *clusterState) []observedNode {
	out := make([]observedNode, len(st.Nodes))
	for i, n := range st.Nodes {
		out[i] = dp.observeNode(ctx, n)
	}
	return out
}

func (dp *dockerProvisioner) observeNode(ctx context.Context, n nodeState) observedNode {
	o := observedNode{nodeState: n, State: stateDown}
	raw, err := dp.docker.run(ctx, nil, "container", "inspect", "--format", "{{json .}}", n.Machine)
	if err != nil {
		if !errors.Is(err, errDockerNotFound) {
			o.State, o.LastExit = stateUnreachable, err.Error()
		}
		return o
	}
	var ds dockerState
	if err := json.Unmarshal([]byte(raw), &ds); err != nil {
		o.State, o.LastExit = stateUnreachable, err.Error()
		return o
	}
	o.Running, o.PID, o.Restarts = ds.State.Running && !ds.State.Restarting, ds.State.Pid, ds.RestartCount
	switch {
	case ds.State.Restarting:
		o.State = stateBackoff
	case ds.State.Running:
		o.State = stateRunning
		since := ds.State.StartedAt
		o.Since = &since
	default:
		o.State = ds.State.Status // created, exited, paused, dead
	}
	if !ds.State.Running && ds.State.Status != "created" {
		o.LastExit = "exit code " + strconv.Itoa(ds.State.ExitCode)
	}
	return o
}

// act maps stop, start and restart to docker stop, start and restart.
func (dp *dockerProvisioner) act(ctx context.Context, _ *clusterState, action lifecycleAction, n nodeState) (string, error) {
	before := dp.observeNode(ctx, n)
	switch {
	case before.State == stateDown:
		return "", fmt.Errorf("container %s does not exist", n.Machine)
	case action == lifecycleStop && !before.Running && before.State != stateBackoff:
		return "already stopped (" + before.State + ")", nil
	case action == lifecycleStart && before.Running:
		return fmt.Sprintf("already running (container %s, pid %d)", n.Machine, before.PID), nil
	}
	args := []string{string(action), n.Machine}
	if action != lifecycleStart {
		args = []string{string(action), "--time", strconv.Itoa(dockerStopTimeout), n.Machine}
	}
	if _, err := dp.docker.run(ctx, nil, args...); err != nil {
		return "", err
	}
	after := dp.observeNode(ctx, n)
	switch action {
	case lifecycleStop:
		return fmt.Sprintf("stopped container %s (%s)", n.Machine, after.LastExit), nil
	case lifecycleRestart:
		return fmt.Sprintf("restarted container %s: pid %d -> %d", n.Machine, before.PID, after.PID), nil
	}
	return fmt.Sprintf("started container %s, pid %d", n.Machine, after.PID), nil
}

// destroy removes the cluster's containers, then its volumes and network:
// those state.json names and those labelled with the cluster's name. What
// is already gone counts as removed, so destroy can run again.
func (dp *dockerProvisioner) destroy(ctx context.Context, st *clusterState, _ string) (string, error) {
	label := "label=" + dockerLabelCluster + "=" + st.Name
	containers, volumes := []string{}, []string{}
	for _, n := range st.Nodes {
		containers, volumes = appendNew(containers, n.Machine), appendNew(volumes, n.Volume)
	}
	var errs []error
	if out, err := dp.docker.run(ctx, nil, "container", "ls", "--all", "--format", "{{.Names}}", "--filter", label); err == nil {
		for _, c := range strings.Fields(out) {
			containers = appendNew(containers, c)
		}
	} else {
		errs = append(errs, err)
	}
	removed := 0
	for _, c := range containers {
		_, err := dp.docker.run(ctx, nil, "container", "rm", "--force", "--volumes", c)
		switch {
		case err == nil:
			removed++
		case !errors.Is(err, errDockerNotFound):
			errs = append(errs, err)
		}
	}
	if out, err := dp.docker.run(ctx, nil, "volume", "ls", "--quiet", "--filter", label); err == nil {
		for _, v := range strings.Fields(out) {
			volumes = appendNew(volumes, v)
		}
	} else {
		errs = append(errs, err)
	}
	removedVolumes := 0
	for _, v := range volumes {
		_, err := dp.docker.run(ctx, nil, "volume", "rm", "--force", v)
		switch {
		case err == nil:
			removedVolumes++
		case !errors.Is(err, errDockerNotFound):
			errs = append(errs, err)
		}
	}
	network := st.Network
	if network == "" {
		network = dockerNetworkName(st.Name)
	}
	netMsg := "network " + network + " was already gone"
	if _, err := dp.docker.run(ctx, nil, "network", "rm", network); err == nil {
		netMsg = "network " + network
	} else if !errors.Is(err, errDockerNotFound) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("%w; state kept, run destroy again", err)
	}
	return fmt.Sprintf("removed %d %s, %d %s and %s", removed, plural(removed, "container", "containers"),
		removedVolumes, plural(removedVolumes, "volume", "volumes"), netMsg), nil
}

// appendNew appends s unless it is empty or already there.
func appendNew(list []string, s string) []string {
	if s == "" {
		return list
	}
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// logTail is 'docker logs --tail': cairnd logs to stderr, the container's
// log.
func (dp *dockerProvisioner) logTail(ctx context.Context, _ *clusterState, n nodeState, lines int) ([]string, error) {
	cmdOut, err := dp.docker.combined(ctx, "logs", "--tail", strconv.Itoa(lines), n.Machine)
	if err != nil {
		return nil, err
	}
	return lastLines([]byte(cmdOut), lines), nil
}
