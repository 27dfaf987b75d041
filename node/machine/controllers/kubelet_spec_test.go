package controllers

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/runtime"
)

// kubeletFixture is worker1's KubeletSpec fed by hand.
type kubeletFixture struct {
	st   *runtime.State
	rt   *runtime.Runtime
	ctrl *KubeletSpec
	cfg  *config.Config
	rev  uint64
}

func newKubeletFixture(t *testing.T) *kubeletFixture {
	t.Helper()
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "kl", ControlPlanes: 1, Workers: 1, LoopbackSubnet: 79})
	require.NoError(t, err)
	bin := t.TempDir()
	for _, p := range []string{"kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "runc"} {
		require.NoError(t, os.WriteFile(filepath.Join(bin, p), nil, 0o755))
	}
	state := t.TempDir()
	f := &kubeletFixture{st: runtime.NewState(), cfg: cfg, ctrl: &KubeletSpec{
		NodeName: "worker1", Layout: kube.Layout{Dir: filepath.Join(state, "kubernetes")}, BinDir: bin,
		CNIBinDir: "/opt/cni/bin", Images: "/usr/share/cairn/images.tar", ContainerdRoot: filepath.Join(state, "containerd"),
		Host: kube.Host{InContainer: true, CgroupV1: true},
	}}
	f.rt = startWith(t, f.st, nil, f.ctrl)
	return f
}

func (f *kubeletFixture) put(t *testing.T, typ, id string, spec any) {
	t.Helper()
	r, err := f.st.Put(runtime.Resource{Type: typ, ID: id, Spec: spec})
	require.NoError(t, err)
	waitPass(t, f.rt, f.ctrl.Name(), r.Version)
}

func (f *kubeletFixture) putConfig(t *testing.T) {
	t.Helper()
	f.rev++
	c := *f.cfg
	f.put(t, TypeClusterConfig, IDCluster, ClusterConfigSpec{Revision: f.rev, Config: &c})
}

func (f *kubeletFixture) phase(t *testing.T) KubeletPhaseSpec {
	t.Helper()
	p, ok := specOf[KubeletPhaseSpec](f.st, TypeKubeletPhase, IDKubelet)
	require.True(t, ok, "a node always has a kubelet phase")
	return p
}

func (f *kubeletFixture) services(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, s := range []string{ServiceContainerd, ServiceImageImport, ServiceKubelet} {
		if _, ok := specOf[ServiceSpecSpec](f.st, TypeKubeletService, s); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestKubeletSpecStartsInOrder: containerd and the image import first,
// kubelet only once the images are in and its credentials are written;
// the CNI configuration once the node has a pod CIDR.
func TestKubeletSpecStartsInOrder(t *testing.T) {
	f := newKubeletFixture(t)
	f.cfg.Cluster.Kubernetes.Disabled = true
	f.putConfig(t)
	assert.Equal(t, KubeletPhaseDisabled, f.phase(t).Phase)
	assert.Empty(t, f.services(t))

	f.cfg.Cluster.Kubernetes.Disabled = false
	f.putConfig(t)
	assert.Equal(t, KubeletPhaseImages, f.phase(t).Phase)
	assert.Equal(t, []string{ServiceContainerd, ServiceImageImport}, f.services(t))
	toml, err := os.ReadFile(f.ctrl.Layout.ContainerdConfig())
	require.NoError(t, err)
	assert.Contains(t, string(toml), "restrict_oom_score_adj = true")
	assert.Contains(t, string(toml), `sandbox = "registry.k8s.io/pause:3.10.2"`)
	imp, _ := specOf[ServiceSpecSpec](f.st, TypeKubeletService, ServiceImageImport)
	assert.Equal(t, "until-success", imp.Restart)
	assert.Equal(t, "/usr/share/cairn/images.tar", imp.Args[len(imp.Args)-1])

	f.put(t, TypeServiceStatus, ServiceImageImport, ServiceStatusSpec{State: "finished"})
	assert.Equal(t, KubeletPhaseCredentials, f.phase(t).Phase)
	assert.NotContains(t, f.services(t), ServiceKubelet)

	f.put(t, TypeKubeletCredentials, IDKubelet, KubeletCredentialsSpec{Kubeconfig: "/x", Digest: "d1"})
	p := f.phase(t)
	assert.Equal(t, KubeletPhaseRunning, p.Phase)
	assert.Equal(t, config.KubeletSettingsHash(f.cfg), p.Settings)
	kl, ok := specOf[ServiceSpecSpec](f.st, TypeKubeletService, ServiceKubelet)
	require.True(t, ok)
	assert.Equal(t, []string{ServiceContainerd}, kl.DependsOn)
	assert.Contains(t, kl.Args, "--hostname-override=worker1")
	cfgYAML, err := os.ReadFile(filepath.Join(f.ctrl.Layout.KubeletDir(), "config.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(cfgYAML), "failCgroupV1: false", "derived from the host")

	_, err = os.Stat(filepath.Join(f.ctrl.Layout.CNIConfDir(), kube.CNIConfFile))
	assert.ErrorIs(t, err, os.ErrNotExist, "no CNI configuration before a pod CIDR")
	f.put(t, TypePodNetwork, IDKubelet, PodNetworkSpec{Registered: true, PodCIDR: "10.244.3.0/24"})
	conf, err := os.ReadFile(filepath.Join(f.ctrl.Layout.CNIConfDir(), kube.CNIConfFile))
	require.NoError(t, err)
	assert.Contains(t, string(conf), `"subnet": "10.244.3.0/24"`)
	assert.Contains(t, string(conf), `"gateway": "10.244.3.1"`)

	// A renewed certificate restarts kubelet: its environment changes.
	before := kl.Env
	f.put(t, TypeKubeletCredentials, IDKubelet, KubeletCredentialsSpec{Kubeconfig: "/x", Digest: "d2"})
	kl, _ = specOf[ServiceSpecSpec](f.st, TypeKubeletService, ServiceKubelet)
	assert.NotEqual(t, before, kl.Env)
}

// TestKubeletSpecWaitsForItsTurn: once kubelet runs, changed settings keep
// the running kubelet until the Raft leader grants them to this node.
func TestKubeletSpecWaitsForItsTurn(t *testing.T) {
	f := newKubeletFixture(t)
	f.putConfig(t)
	f.put(t, TypeServiceStatus, ServiceImageImport, ServiceStatusSpec{State: "finished"})
	f.put(t, TypeKubeletCredentials, IDKubelet, KubeletCredentialsSpec{Kubeconfig: "/x", Digest: "d1"})
	old := f.phase(t).Settings
	oldSvc, _ := specOf[ServiceSpecSpec](f.st, TypeKubeletService, ServiceKubelet)

	f.cfg.Cluster.Kubernetes.Kubelet.MaxPods = 42
	f.putConfig(t)
	p := f.phase(t)
	want := config.KubeletSettingsHash(f.cfg)
	assert.Equal(t, old, p.Settings)
	assert.Equal(t, want, p.Pending)
	assert.Contains(t, p.Reason, "waiting for the Raft leader's turn")
	svc, _ := specOf[ServiceSpecSpec](f.st, TypeKubeletService, ServiceKubelet)
	assert.Equal(t, oldSvc, svc, "the running kubelet stays")

	f.put(t, TypeKubeletRollout, IDKubelet, KubeRolloutSpec{Granted: want})
	p = f.phase(t)
	assert.Equal(t, want, p.Settings)
	assert.Empty(t, p.Pending)
	cfgYAML, err := os.ReadFile(filepath.Join(f.ctrl.Layout.KubeletDir(), "config.yaml"))
	require.NoError(t, err)
	assert.Contains(t, string(cfgYAML), "maxPods: 42")
	svc, _ = specOf[ServiceSpecSpec](f.st, TypeKubeletService, ServiceKubelet)
	assert.True(t, slices.ContainsFunc(svc.Env, func(e string) bool { return strings.HasPrefix(e, KubeletSettingsEnv+"="+want) }))
}
