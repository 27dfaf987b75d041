package controllers

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/runtime"
)

// kubeFixture is cp2's KubeControlPlane fed by hand.
type kubeFixture struct {
	st   *runtime.State
	rt   *runtime.Runtime
	ctrl *KubeControlPlane
	cfg  *config.Config
	rev  uint64
}

func newKubeFixture(t *testing.T, withBinaries bool) *kubeFixture {
	t.Helper()
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "kt", ControlPlanes: 3, Workers: 1, LoopbackSubnet: 78})
	require.NoError(t, err)
	bin := t.TempDir()
	if withBinaries {
		for _, c := range kube.ControlPlaneComponents {
			require.NoError(t, os.WriteFile(filepath.Join(bin, c), nil, 0o755))
		}
	}
	f := &kubeFixture{st: runtime.NewState(), cfg: cfg, ctrl: &KubeControlPlane{
		NodeName: "cp2", Layout: kube.Layout{Dir: filepath.Join(t.TempDir(), "kubernetes")}, BinDir: bin,
		Secrets: cfg.Secrets, EtcdURL: "https://127.0.78.2:2379",
	}}
	f.rt = startWith(t, f.st, nil, f.ctrl)
	return f
}

// put writes a resource and waits for a pass of the controller that saw it.
func (f *kubeFixture) put(t *testing.T, typ, id string, spec any) {
	t.Helper()
	r, err := f.st.Put(runtime.Resource{Type: typ, ID: id, Spec: spec})
	require.NoError(t, err)
	waitPass(t, f.rt, f.ctrl.Name(), r.Version)
}

func (f *kubeFixture) putConfig(t *testing.T) {
	t.Helper()
	f.rev++
	c := *f.cfg
	f.put(t, TypeClusterConfig, IDCluster, ClusterConfigSpec{Revision: f.rev, Config: &c})
}

func (f *kubeFixture) phase(t *testing.T) KubePhaseSpec {
	t.Helper()
	p, ok := specOf[KubePhaseSpec](f.st, TypeKubePhase, IDKubernetes)
	require.True(t, ok, "a control plane always has a phase")
	return p
}

func (f *kubeFixture) apiserverArgs(t *testing.T) []string {
	t.Helper()
	svc, ok := specOf[ServiceSpecSpec](f.st, TypeKubeService, kube.APIServer)
	require.True(t, ok, "kube-apiserver is asked for")
	return svc.Args
}

// TestKubeControlPlanePhases: each reason not to run is a phase with its
// reason and no service; once etcd runs, the three services.
func TestKubeControlPlanePhases(t *testing.T) {
	f := newKubeFixture(t, false)
	f.cfg.Cluster.Kubernetes.Disabled = true
	f.putConfig(t)
	assert.Equal(t, KubePhaseDisabled, f.phase(t).Phase)

	f.cfg.Cluster.Kubernetes.Disabled = false
	f.putConfig(t)
	p := f.phase(t)
	assert.Equal(t, KubePhaseUnavailable, p.Phase)
	assert.Contains(t, p.Reason, "kube-apiserver binary")

	f = newKubeFixture(t, true)
	f.cfg.Cluster.Kubernetes.Version = "1.36.0"
	f.putConfig(t)
	p = f.phase(t)
	assert.Equal(t, KubePhaseRefused, p.Phase)
	assert.Contains(t, p.Reason, "ships Kubernetes "+kube.Version)

	f.cfg.Cluster.Kubernetes.Version = kube.Version
	f.putConfig(t)
	assert.Equal(t, KubePhaseWaitingEtcd, f.phase(t).Phase)
	_, ok := specOf[ServiceSpecSpec](f.st, TypeKubeService, kube.APIServer)
	assert.False(t, ok, "no apiserver before etcd")

	f.put(t, TypeEtcdPhase, IDEtcd, EtcdPhaseSpec{Phase: EtcdPhaseMember})
	p = f.phase(t)
	assert.Equal(t, KubePhaseRunning, p.Phase)
	assert.Equal(t, config.KubeControlPlaneSettingsHash(f.cfg), p.Settings)
	assert.Equal(t, "https://127.0.78.2:6443", p.APIServer)
	for _, c := range kube.ControlPlaneComponents {
		svc, ok := specOf[ServiceSpecSpec](f.st, TypeKubeService, c)
		require.True(t, ok, c)
		assert.Contains(t, svc.Env, KubeSettingsEnv+"="+p.Settings)
		require.NotNil(t, svc.Health)
		assert.Equal(t, f.ctrl.Layout.File("ca.crt"), svc.Health.CAFile)
	}
	assert.FileExists(t, filepath.Join(f.ctrl.Layout.Dir, "running.json"))
}

// TestKubeControlPlaneWaitsForItsGrant: a settings change keeps the
// services that run until the leader grants this node the new settings,
// and across a restart of the controller (running.json).
func TestKubeControlPlaneWaitsForItsGrant(t *testing.T) {
	f := newKubeFixture(t, true)
	f.put(t, TypeEtcdPhase, IDEtcd, EtcdPhaseSpec{Phase: EtcdPhaseMember})
	f.putConfig(t)
	before := f.phase(t).Settings
	f.put(t, TypeKubeRollout, IDKubernetes, KubeRolloutSpec{Granted: before})
	oldArgs := f.apiserverArgs(t)

	f.cfg.Cluster.Kubernetes.APIServer.ExtraArgs = map[string]string{"audit-log-maxage": "5"}
	f.putConfig(t)
	want := config.KubeControlPlaneSettingsHash(f.cfg)
	p := f.phase(t)
	assert.Equal(t, before, p.Settings, "still the old settings")
	assert.Equal(t, want, p.Pending)
	assert.Contains(t, p.Reason, "waiting for the Raft leader's turn")
	assert.Equal(t, oldArgs, f.apiserverArgs(t), "the running apiserver is left alone")

	// A new controller (cairnd restarted) keeps waiting from running.json.
	g := &kubeFixture{st: runtime.NewState(), cfg: f.cfg, ctrl: &KubeControlPlane{NodeName: "cp2", Layout: f.ctrl.Layout,
		BinDir: f.ctrl.BinDir, Secrets: f.cfg.Secrets, EtcdURL: f.ctrl.EtcdURL}}
	g.rt = startWith(t, g.st, nil, g.ctrl)
	g.put(t, TypeEtcdPhase, IDEtcd, EtcdPhaseSpec{Phase: EtcdPhaseMember})
	g.putConfig(t)
	assert.Equal(t, oldArgs, g.apiserverArgs(t), "after a restart too")

	f.put(t, TypeKubeRollout, IDKubernetes, KubeRolloutSpec{Granted: want})
	p = f.phase(t)
	assert.Equal(t, want, p.Settings)
	assert.Empty(t, p.Pending)
	assert.True(t, slices.Contains(f.apiserverArgs(t), "--audit-log-maxage=5"), "granted: restarted with the change")
}

// TestKubeControlPlaneAsStaticPods: where kubelet runs, the components are
// static pod manifests with the same command lines, and no service; a
// phase that runs nothing removes them.
func TestKubeControlPlaneAsStaticPods(t *testing.T) {
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "kt", ControlPlanes: 3, Workers: 1, LoopbackSubnet: 77})
	require.NoError(t, err)
	bin := t.TempDir()
	for _, c := range kube.ControlPlaneComponents {
		require.NoError(t, os.WriteFile(filepath.Join(bin, c), nil, 0o755))
	}
	f := &kubeFixture{st: runtime.NewState(), cfg: cfg, ctrl: &KubeControlPlane{
		NodeName: "cp2", Layout: kube.Layout{Dir: filepath.Join(t.TempDir(), "kubernetes")}, BinDir: bin,
		Secrets: cfg.Secrets, EtcdURL: "https://127.0.77.2:2379", StaticPods: true,
	}}
	f.rt = startWith(t, f.st, nil, f.ctrl)
	f.putConfig(t)
	f.put(t, TypeEtcdPhase, IDEtcd, EtcdPhaseSpec{Phase: EtcdPhaseMember})
	p := f.phase(t)
	assert.Equal(t, KubePhaseRunning, p.Phase)
	assert.True(t, p.StaticPods)
	_, ok := specOf[ServiceSpecSpec](f.st, TypeKubeService, kube.APIServer)
	assert.False(t, ok, "no supervised service")
	manifest, err := os.ReadFile(filepath.Join(f.ctrl.Layout.StaticPodDir(), "kube-apiserver.yaml"))
	require.NoError(t, err)
	for _, want := range []string{"image: registry.k8s.io/kube-apiserver:v1.37.2", "imagePullPolicy: Never", "hostNetwork: true",
		"- --etcd-servers=https://127.0.77.2:2379", "name: " + KubeSettingsEnv, "path: /livez", "path: " + f.ctrl.Layout.Dir} {
		assert.Contains(t, string(manifest), want)
	}
	for _, c := range kube.ControlPlaneComponents {
		assert.FileExists(t, filepath.Join(f.ctrl.Layout.StaticPodDir(), c+".yaml"))
	}

	f.cfg.Cluster.Kubernetes.Disabled = true
	f.putConfig(t)
	assert.Equal(t, KubePhaseDisabled, f.phase(t).Phase)
	for _, c := range kube.ControlPlaneComponents {
		assert.NoFileExists(t, filepath.Join(f.ctrl.Layout.StaticPodDir(), c+".yaml"), "kubelet stops %s", c)
	}
}
