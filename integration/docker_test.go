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

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/machine/boot"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/rootfs/image"
)

// TestDockerCluster drives a 3+2 cluster of containers (cluster create
// --provisioner docker) through partitions and kills made with Docker
// itself. cluster create builds the image from a static cairnd, as it does
// for a user without 'make image'. The subtests run in order on one
// cluster; each starts from a healthy cluster.
func TestDockerCluster(t *testing.T) {
	requireDocker(t)
	// A name and an image tag of this run's own: Docker's names are
	// global, and other runs (other engineers, CI) may use Docker at once.
	name := fmt.Sprintf("dock%d", os.Getpid())
	version := fmt.Sprintf("it-%d-%d", os.Getpid(), time.Now().Unix())
	tag := "cairn/cairnd:" + version
	cairnd := buildStaticCairnd(t, version)
	t.Cleanup(func() { _ = exec.Command("docker", "image", "rm", "--force", tag).Run() })

	c := createCluster(t, name, 3, 2, "--provisioner", "docker", "--cairnd", cairnd, "--image", tag, "--timings", "fast")
	d := c.dockerShow(t)
	require.Len(t, d.Nodes, 5)

	t.Run("healthy, in containers from the image", func(t *testing.T) {
		c.requireHealthy(t)
		out, err := c.ctl("-n", "worker1", "version")
		require.NoError(t, err, out)
		assert.Regexp(t, `(?m)^worker1\s+`+version+`\s+container\s`, out, "the image's cairnd, in container mode")
		assert.Equal(t, version, dockerOut(t, "image", "inspect", "--format", `{{index .Config.Labels "org.opencontainers.image.version"}}`, tag))
		for _, n := range d.Nodes {
			assert.Equal(t, "true "+name, dockerOut(t, "container", "inspect", "--format",
				`{{.HostConfig.ReadonlyRootfs}} {{index .Config.Labels "io.cairn.cluster"}}`, n.Machine), n.Name)
			assert.Equal(t, d.NetworkCIDR, dockerOut(t, "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", d.Network))
			assert.Equal(t, n.Volume, dockerOut(t, "volume", "inspect", "--format", "{{.Name}}", n.Volume))
			assert.True(t, strings.HasPrefix(n.APIAddress, fmt.Sprintf("127.0.%d.", d.Subnet)), "%s is reached on loopback: %s", n.Name, n.APIAddress)
		}
		out, err = c.ctl("cluster", "show", "--name", name)
		require.NoError(t, err, out)
		assert.Contains(t, out, d.Network)
		assert.Contains(t, out, d.Nodes[0].Volume)
	})

	t.Run("every control plane is a healthy voter of one etcd cluster", func(t *testing.T) {
		c.requireDockerEtcd(t, d)
	})

	t.Run("create refuses the name, and the cluster commands act on the containers", func(t *testing.T) {
		out, err := c.ctl("cluster", "create", "--name", name, "--provisioner", "docker", "--image", tag)
		require.Error(t, err, out)
		assert.Contains(t, out, "cluster already exists")

		w := d.node(t, "worker2")
		out, err = c.ctl("cluster", "stop", "worker2", "--name", name)
		require.NoError(t, err, out)
		assert.Equal(t, "false", dockerOut(t, "container", "inspect", "--format", "{{.State.Running}}", w.Machine), out)
		out, err = c.ctl("cluster", "start", "worker2", "--name", name, "--wait")
		require.NoError(t, err, out)
		assert.Contains(t, out, "worker2: API answers on "+w.APIAddress)
		pid := dockerOut(t, "container", "inspect", "--format", "{{.State.Pid}}", w.Machine)
		out, err = c.ctl("cluster", "restart", "worker2", "--name", name, "--wait")
		require.NoError(t, err, out)
		assert.NotEqual(t, pid, dockerOut(t, "container", "inspect", "--format", "{{.State.Pid}}", w.Machine), out)

		out, err = c.ctl("cluster", "logs", "worker2", "--name", name, "--tail", "5")
		require.NoError(t, err, out)
		assert.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 5, out)
		assert.Contains(t, out, "node=worker2", "docker logs of its container")
		c.requireHealthy(t)
	})

	var newRevision uint64
	t.Run("a disconnected leader is replaced and rejoins as a follower with the newer config", func(t *testing.T) {
		c.requireHealthy(t)
		old := d.node(t, c.leader(t))
		dockerOut(t, "network", "disconnect", d.Network, old.Machine)
		reconnected := false
		t.Cleanup(func() {
			if !reconnected {
				_ = exec.Command("docker", "network", "connect", "--ip", old.Address, d.Network, old.Machine).Run()
			}
		})
		c.awaitLeaderOtherThan(t, old.Name)

		// The other two take a write, through one of them.
		var survivor dockerNode
		for _, n := range d.Nodes {
			if n.Role == "controlplane" && n.Name != old.Name {
				survivor = n
				break
			}
		}
		// The survivor may learn of the new leader a moment after the other
		// one: retry the write until it takes one.
		var version string
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			res, err := c.client(survivor.APIAddress).GetConfig(ctxT(t, 5*time.Second), connect.NewRequest(&clusterv1.GetConfigRequest{}))
			require.NoError(ct, err)
			_, version = otherKubernetesVersion(t, res.Msg.Config)
			out, err := c.ctl("-e", survivor.APIAddress, "config", "patch", "--patch",
				fmt.Sprintf(`{"cluster":{"kubernetes":{"version":%q}}}`, version))
			require.NoError(ct, err, out)
			after := c.getConfig(t, survivor.APIAddress, false)
			require.Greater(ct, after.Revision, res.Msg.Revision, out)
			newRevision = after.Revision
		}, 30*time.Second, 200*time.Millisecond)

		dockerOut(t, "network", "connect", "--ip", old.Address, d.Network, old.Machine)
		reconnected = true
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			st, err := c.consensusStatus(old.APIAddress)
			require.NoError(ct, err)
			assert.Equal(ct, "Follower", st.State, "%s's own view", old.Name)
			assert.NotEqual(ct, old.Name, st.LeaderName)
			assert.NotEmpty(ct, st.LeaderName)
			got := c.getConfig(t, old.APIAddress, true) // its own replica
			assert.Equal(ct, newRevision, got.Revision)
			assert.Contains(ct, got.Config, version)
		}, 60*time.Second, 200*time.Millisecond)
		c.requireHealthy(t)
	})

	t.Run("a killed and restarted container rejoins with its state", func(t *testing.T) {
		c.requireHealthy(t)
		leader := c.leader(t)
		var victim dockerNode
		for _, n := range d.Nodes {
			if n.Role == "controlplane" && n.Name != leader {
				victim = n
			}
		}
		before, err := c.consensusStatus(c.node(leader).APIAddress)
		require.NoError(t, err)
		id := serverID(before, victim.Name)
		require.NotEmpty(t, id, "%s is a Raft server", victim.Name)
		pid := dockerOut(t, "container", "inspect", "--format", "{{.State.Pid}}", victim.Machine)

		dockerOut(t, "kill", victim.Machine)
		require.Eventually(t, func() bool {
			return dockerOut(t, "container", "inspect", "--format", "{{.State.Running}}", victim.Machine) == "false"
		}, 30*time.Second, 100*time.Millisecond, "docker kill stops it")
		dockerOut(t, "start", victim.Machine)
		require.NotEqual(t, pid, dockerOut(t, "container", "inspect", "--format", "{{.State.Pid}}", victim.Machine), "a new cairnd")

		c.requireHealthy(t)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			st, err := c.consensusStatus(victim.APIAddress)
			require.NoError(ct, err)
			assert.Equal(ct, "Follower", st.State)
			assert.Equal(ct, id, serverID(st, victim.Name), "the same Raft state, not a new member")
			assert.Equal(ct, []string{"cp1", "cp2", "cp3"}, serverNames(st), "no new server")
			if newRevision > 0 {
				got := c.getConfig(t, victim.APIAddress, true)
				assert.GreaterOrEqual(ct, got.Revision, newRevision, "its replica kept what it had")
			}
		}, 60*time.Second, 200*time.Millisecond)
	})

	t.Run("a rolling upgrade runs every container from slot B on its volume, and a restarted container stays there", func(t *testing.T) {
		c.requireHealthy(t)
		u := newUpgradeClients(c)
		for name, v := range u.versions(t) {
			require.Equal(t, version+"/"+boot.SlotA, v, "%s before the upgrade: the image's cairnd", name)
		}
		out, err := c.ctl("upgrade", "start", "/bin/sh")
		require.Error(t, err, out)
		assert.Contains(t, out, "dynamically linked", "the image has no C library for it")
		out, err = c.ctl("upgrade", "status")
		require.Error(t, err, out)
		assert.Contains(t, out, "no upgrade plan", "nothing started")

		v2 := version + "-up"
		start := time.Now()
		id := c.startUpgrade(t, buildStaticRelease(t, v2), "--max-unavailable", "1")
		p := u.waitPhase(t, id, "done", 6*time.Minute)
		t.Logf("%s → %s of 3+2 containers in %s", version, v2, time.Since(start).Round(100*time.Millisecond))
		for _, s := range p.GetSteps() {
			assert.Equal(t, "done", s.GetState(), s.GetNode())
			assert.Equal(t, int32(1), s.GetAttempt(), "%s granted once", s.GetNode())
		}
		for name, v := range u.versions(t) {
			assert.Equal(t, v2+"/"+boot.SlotB, v, "%s after the upgrade", name)
		}
		for _, n := range d.Nodes {
			// The container's PID 1 is the image's boot stage; its child
			// runs from slot B on the node's volume.
			top := dockerOut(t, "top", n.Machine, "-eo", "pid,ppid,args")
			assert.Contains(t, top, image.CairndPath+" boot", n.Name)
			assert.Contains(t, top, "/var/lib/cairn/slots/B/cairnd", n.Name)
		}

		w := d.node(t, "worker1")
		out, err = c.ctl("cluster", "restart", "worker1", "--name", name, "--wait")
		require.NoError(t, err, out)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			assert.Equal(ct, v2+"/"+boot.SlotB, u.versions(t)[w.Name])
		}, time.Minute, 500*time.Millisecond, "the boot record on the volume outlives the container's restart")
		c.requireHealthy(t)
	})

	t.Run("destroy removes the containers, volumes and network, and is safe to run again", func(t *testing.T) {
		out, err := c.ctl("cluster", "destroy", "--name", name)
		require.NoError(t, err, out)
		assert.Contains(t, out, "removed 5 containers, 5 volumes and network "+d.Network)
		assert.Empty(t, dockerOut(t, "container", "ls", "--all", "--quiet", "--filter", "label=io.cairn.cluster="+name))
		assert.Empty(t, dockerOut(t, "volume", "ls", "--quiet", "--filter", "label=io.cairn.cluster="+name))
		assert.Empty(t, dockerOut(t, "network", "ls", "--quiet", "--filter", "name=^"+d.Network+"$"))
		out, err = c.ctl("cluster", "destroy", "--name", name)
		require.Error(t, err, out)
		assert.Contains(t, out, "cluster not found", "the second run finds nothing to do")
	})
}

// dockerCluster is `cluster show -o json` of a docker cluster.
type dockerCluster struct {
	Subnet      int          `json:"subnet"`
	Network     string       `json:"network"`
	NetworkCIDR string       `json:"networkCIDR"`
	Nodes       []dockerNode `json:"nodes"`
}

// dockerNode is a node of a docker cluster: its container, its address on
// the cluster's network, its volume, and the host-side API address.
type dockerNode struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	APIAddress string `json:"apiAddress"`
	Address    string `json:"address"`
	Machine    string `json:"machine"`
	Volume     string `json:"volume"`
}

func (c *localCluster) dockerShow(t testing.TB) dockerCluster {
	t.Helper()
	out, err := c.ctl("cluster", "show", "--name", c.name, "-o", "json")
	require.NoError(t, err, out)
	var d dockerCluster
	require.NoError(t, json.Unmarshal([]byte(out), &d), out)
	return d
}

func (d dockerCluster) node(t *testing.T, name string) dockerNode {
	t.Helper()
	for _, n := range d.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return dockerNode{}
}

// requireDocker skips outside CI when Docker does not answer; CI has it.
func requireDocker(t testing.TB) {
	t.Helper()
	if err := exec.Command("docker", "version").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this test needs Docker, which CI has: %v", err)
		}
		t.Skip("needs Docker (runs in CI)")
	}
}

// dockerOut runs docker and returns its trimmed output, failing the test
// on an error.
func dockerOut(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	require.NoError(t, err, "docker %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// buildStaticCairnd builds cairnd as 'make image' does (CGO_ENABLED=0,
// the version set by -ldflags), which an image FROM scratch needs, and
// etcd beside it as 'make etcd' does, where cluster create looks for the
// etcd the image ships (the Go build cache makes that a link once warm).
func buildStaticCairnd(t testing.TB, version string) string {
	t.Helper()
	root, err := repoRoot()
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "cairnd")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags",
		"-X github.com/cairn-project/cairn/internal/version.Version="+version, "-o", bin, "./cmd/cairnd")
	cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build a static cairnd: %s", out)
	cmd = exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", filepath.Join(filepath.Dir(bin), "etcd"), ".")
	cmd.Dir, cmd.Env = filepath.Join(root, "tools", "etcd"), append(os.Environ(), "CGO_ENABLED=0")
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "build a static etcd (tools/etcd): %s", out)
	return bin
}
