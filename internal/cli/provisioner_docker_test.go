package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/rootfs/image"
)

func TestPickNetworkCIDR(t *testing.T) {
	pfx := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		n     int
		taken []netip.Prefix
		want  string
	}{
		{"the loopback subnet's N", 12, nil, "10.12.0.0/24"},
		{"N taken by a Docker network", 12, pfx("10.12.0.0/16"), "10.10.0.0/24"},
		{"inside the pod network", 244, pfx("10.244.0.0/16", "10.96.0.0/12"), "10.10.0.0/24"},
		{"a host address's subnet", 10, pfx("10.0.0.0/12"), "10.16.0.0/24"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickNetworkCIDR(tc.n, tc.taken)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.String())
		})
	}
	_, err := pickNetworkCIDR(10, pfx("10.0.0.0/8"))
	require.ErrorIs(t, err, ErrNoFreeSubnet)
}

// fakeDocker is a stateful in-memory Docker for the commands the docker
// provisioner runs: networks, volumes and containers by name, with
// labels.
type fakeDocker struct {
	networks   map[string]string // name -> cluster label
	volumes    map[string]string
	containers map[string]*fakeContainer
	calls      []string
	// noImages makes image inspect find nothing.
	noImages bool
}

type fakeContainer struct {
	cluster string
	running bool
	pid     int
}

func newFakeDocker() *fakeDocker {
	return &fakeDocker{networks: map[string]string{}, volumes: map[string]string{}, containers: map[string]*fakeContainer{}}
}

func (f *fakeDocker) combined(ctx context.Context, args ...string) (string, error) {
	return f.run(ctx, nil, args...)
}

func (f *fakeDocker) run(_ context.Context, _ []string, args ...string) (string, error) {
	f.calls = append(f.calls, strings.Join(args, " "))
	last := args[len(args)-1]
	notFound := fmt.Errorf("docker: %w: %s", errDockerNotFound, last)
	label := func() string { // the value of --label/--filter io.cairn.cluster=X
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, dockerLabelCluster+"="); ok {
				return v
			}
			if v, ok := strings.CutPrefix(a, "label="+dockerLabelCluster+"="); ok {
				return v
			}
		}
		return ""
	}
	byLabel := func(m map[string]string) string {
		var out []string
		for n, l := range m {
			if l == label() {
				out = append(out, n)
			}
		}
		slices.Sort(out)
		return strings.Join(out, "\n")
	}
	switch cmd := args[0] + " " + args[1]; {
	case args[0] == "version":
		return "20.10\n", nil
	case cmd == "network inspect":
		if _, ok := f.networks[last]; !ok {
			return "", notFound
		}
		return "[]", nil
	case cmd == "network ls":
		return "", nil
	case cmd == "network create":
		f.networks[last] = label()
	case cmd == "network rm":
		if _, ok := f.networks[last]; !ok {
			return "", notFound
		}
		delete(f.networks, last)
	case cmd == "image inspect":
		if f.noImages {
			return "", notFound
		}
		return "sha256:x", nil
	case cmd == "volume create":
		f.volumes[last] = label()
	case cmd == "volume ls":
		return byLabel(f.volumes), nil
	case cmd == "volume rm":
		if _, ok := f.volumes[last]; !ok {
			return "", notFound
		}
		delete(f.volumes, last)
	case args[0] == "run":
		name := args[slices.Index(args, "--name")+1]
		f.containers[name] = &fakeContainer{cluster: label(), running: true, pid: 100 + len(f.containers)}
	case cmd == "container inspect":
		c, ok := f.containers[last]
		if !ok {
			return "", notFound
		}
		status := map[bool]string{true: "running", false: "exited"}[c.running]
		data, _ := json.Marshal(map[string]any{"State": map[string]any{"Status": status, "Running": c.running, "Pid": c.pid}, "RestartCount": 0})
		return string(data), nil
	case cmd == "container ls":
		m := map[string]string{}
		for n, c := range f.containers {
			m[n] = c.cluster
		}
		return byLabel(m), nil
	case cmd == "container rm":
		if _, ok := f.containers[last]; !ok {
			return "", notFound
		}
		delete(f.containers, last)
	case args[0] == "stop" || args[0] == "start":
		c, ok := f.containers[last]
		if !ok {
			return "", notFound
		}
		c.running = args[0] == "start"
		if c.running {
			c.pid += 1000
		}
	default:
		return "", fmt.Errorf("fake docker: unexpected %q", strings.Join(args, " "))
	}
	return "", nil
}

// createDocker runs the docker provisioner's plan and create against f.
func createDocker(t *testing.T, f *fakeDocker, name string) *clusterState {
	t.Helper()
	dir := t.TempDir()
	dp := &dockerProvisioner{docker: f, hostPrefixes: func() []netip.Prefix { return nil }}
	p := &clusterPlan{Name: name, Dir: dir, Subnet: 30, ControlPlanes: 1, Workers: 1, Image: "cairn/cairnd:test"}
	require.NoError(t, dp.plan(t.Context(), p))
	assert.Equal(t, []string{"10.30.0.2", "10.30.0.3"}, p.Generate.NodeHosts)
	assert.Equal(t, []string{"127.0.30.1:6440", "127.0.30.2:6440"}, p.HostAPI)
	p.Generate.ClusterName, p.Generate.ControlPlanes, p.Generate.Workers = name, 1, 1
	cfg, err := config.Generate(p.Generate)
	require.NoError(t, err)
	files, err := writeClusterFiles(dir, cfg, p.hostControlPlaneEndpoints(cfg))
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.30.1:6440"}, files.context.Endpoints, "the admin context reaches the host side")
	st := &clusterState{Name: name, Provisioner: provisionerDocker, ConfigFile: files.cluster}
	require.NoError(t, dp.create(t.Context(), p, cfg, st))
	return st
}

func TestDockerProvisionerCreateObserveActDestroy(t *testing.T) {
	f := newFakeDocker()
	st := createDocker(t, f, "demo")
	dp := &dockerProvisioner{docker: f}
	assert.Equal(t, "cairn-demo", st.Network)
	assert.Equal(t, "10.30.0.0/24", st.NetworkCIDR)
	require.Len(t, st.Nodes, 2)
	assert.Equal(t, nodeState{Name: "cp1", Role: "controlplane", APIAddress: "127.0.30.1:6440", Address: "10.30.0.2",
		Machine: "cairn-demo-cp1", Volume: "cairn-demo-cp1"}, st.Nodes[0])
	run := f.calls[slices.IndexFunc(f.calls, func(c string) bool { return strings.HasPrefix(c, "run ") })]
	for _, want := range []string{"--read-only", "--tmpfs /run", "--tmpfs /tmp", "--restart on-failure", "--ip 10.30.0.2",
		"--publish 127.0.30.1:6440:6440", "--volume cairn-demo-cp1:/var ", "--env CAIRN_CONFIG_DATA ", "--mode container"} {
		assert.Contains(t, run, want)
	}

	err := dp.plan(t.Context(), &clusterPlan{Name: "demo", Subnet: 31, ControlPlanes: 1})
	require.ErrorIs(t, err, ErrClusterExists, "the network's name is taken")

	obs := dp.observe(t.Context(), st)
	assert.Equal(t, stateRunning, obs[0].State)
	assert.True(t, obs[0].Running)
	assert.False(t, obs[0].exited())

	msg, err := dp.act(t.Context(), st, lifecycleStop, st.Nodes[1])
	require.NoError(t, err)
	assert.Contains(t, msg, "stopped container cairn-demo-worker1")
	msg, err = dp.act(t.Context(), st, lifecycleStop, st.Nodes[1])
	require.NoError(t, err)
	assert.Equal(t, "already stopped (exited)", msg)
	assert.True(t, dp.observe(t.Context(), st)[1].exited())
	msg, err = dp.act(t.Context(), st, lifecycleStart, st.Nodes[1])
	require.NoError(t, err)
	assert.Contains(t, msg, "started container cairn-demo-worker1")

	other := createDocker(t, f, "other")
	summary, err := dp.destroy(t.Context(), st, "")
	require.NoError(t, err)
	assert.Equal(t, "removed 2 containers, 2 volumes and network cairn-demo", summary)
	assert.Equal(t, stateDown, dp.observe(t.Context(), st)[0].State)
	summary, err = dp.destroy(t.Context(), st, "")
	require.NoError(t, err, "a second destroy finds nothing and succeeds")
	assert.Equal(t, "removed 0 containers, 0 volumes and network cairn-demo was already gone", summary)
	assert.Len(t, f.containers, 2, "the other cluster's containers stay")
	assert.Contains(t, f.networks, other.Network)
}

func TestDockerDestroyFindsWhatStateDoesNotName(t *testing.T) {
	f := newFakeDocker()
	st := createDocker(t, f, "demo")
	dp := &dockerProvisioner{docker: f}
	// A create interrupted before state.json recorded its nodes.
	summary, err := dp.destroy(t.Context(), &clusterState{Name: st.Name}, "")
	require.NoError(t, err)
	assert.Equal(t, "removed 2 containers, 2 volumes and network cairn-demo", summary)
	assert.Empty(t, f.containers)
	assert.Empty(t, f.volumes)
	assert.Empty(t, f.networks)
}

// TestDockerImageNeedsEtcd: building a missing image takes the etcd next
// to cairnd (or --etcd), and without one says so before anything is made.
func TestDockerImageNeedsEtcd(t *testing.T) {
	f := newFakeDocker()
	f.noImages = true
	dp := &dockerProvisioner{docker: f}
	dir := t.TempDir()
	cairnd := filepath.Join(dir, "cairnd")
	require.NoError(t, os.WriteFile(cairnd, []byte("not run"), 0o755))

	err := dp.ensureImage(t.Context(), &clusterPlan{Image: "cairn/cairnd:test", Cairnd: cairnd})
	require.ErrorIs(t, err, ErrEtcdNotFound)
	assert.Contains(t, err.Error(), filepath.Join(dir, "etcd"), "names where it looked")
	assert.Contains(t, err.Error(), "make etcd")
	err = dp.ensureImage(t.Context(), &clusterPlan{Image: "cairn/cairnd:test", Cairnd: cairnd, Etcd: filepath.Join(dir, "nope")})
	require.ErrorIs(t, err, ErrEtcdNotFound)
	assert.Contains(t, err.Error(), "--etcd")
	for _, c := range f.calls {
		assert.True(t, strings.HasPrefix(c, "image inspect"), "nothing made: %s", c)
	}

	etcd := filepath.Join(dir, "etcd")
	require.NoError(t, os.WriteFile(etcd, []byte("not run"), 0o755))
	got, err := findEtcd("", cairnd)
	require.NoError(t, err)
	assert.Equal(t, etcd, got, "next to cairnd")
	other := filepath.Join(t.TempDir(), "etcd-3.7.3")
	require.NoError(t, os.WriteFile(other, []byte("not run"), 0o755))
	got, err = findEtcd(other, cairnd)
	require.NoError(t, err)
	assert.Equal(t, other, got, "the flag wins")
	err = dp.ensureImage(t.Context(), &clusterPlan{Image: "cairn/cairnd:test", Cairnd: cairnd})
	require.ErrorIs(t, err, image.ErrNotStatic, "etcd found, the build goes on (and refuses the stand-in cairnd)")
}
