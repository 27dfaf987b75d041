package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cairn-project/cairn/internal/atomicfile"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/runtime"
)

// KubeletSpec turns (the received config, the kubelet's credentials, the
// pod CIDR Kubernetes gave this node, the image import's outcome) into the
// node's Kubernetes runtime — containerd, a one-shot import of the image's
// workload images into it, kubelet — on every node of a machine that runs
// kubelet (container and pid1 modes), and says in KubeletPhase why it runs
// them or not:
//
//   - cluster.kubernetes.disabled, or no kubelet and containerd binaries
//     here: nothing runs;
//   - containerd first (its config written), then image-import, which
//     runs `ctr images import` of the image's archive once per boot;
//   - kubelet and kube-proxy once the images are in and the node's credentials
//     (KubeletCredentials, from the node's KubeletCertificate call) are
//     written; its KubeletConfiguration and flags are rendered by
//     kube.Kubelet, and a digest of them in its environment restarts it
//     when they change;
//   - but once kubelet runs, a change of the kubelet settings
//     (config.KubeletSettingsHash) waits for the Raft leader's grant
//     (KubeletRollout), so kubelets restart one node at a time; until
//     then the kubelet last started stays (kubernetes/kubelet/running.json);
//   - the CNI configuration for the node's pod CIDR once
//     kube-controller-manager has allocated one (PodNetwork): until then
//     kubelet reports the node's network not ready.
type KubeletSpec struct {
	NodeName string
	Layout   kube.Layout
	// BinDir holds kubelet, containerd, its shim, ctr and runc; CNIBinDir
	// the CNI plugins; Images the workload images archive.
	BinDir, CNIBinDir, Images string
	// ContainerdRoot is containerd's data directory (on the state volume).
	ContainerdRoot string
	Host           kube.Host
}

// Name implements runtime.Controller.
func (c *KubeletSpec) Name() string { return "kubelet-spec" }

// Inputs implements runtime.Controller.
func (c *KubeletSpec) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeClusterConfig, ID: IDCluster}, {Type: TypeKubeletCredentials, ID: IDKubelet},
		{Type: TypePodNetwork, ID: IDKubelet}, {Type: TypeServiceStatus, ID: ServiceImageImport},
		{Type: TypeKubeletRollout, ID: IDKubelet}}
}

// Outputs implements runtime.Controller.
func (c *KubeletSpec) Outputs() []string { return []string{TypeKubeletService, TypeKubeletPhase} }

// TypeKubeletRollout is this node's grant in the Raft leader's rollout of
// kubelet settings (ID "kubelet"), mirrored from Raft.
const TypeKubeletRollout = "KubeletRollout"

// KubeletSettingsEnv carries the kubelet settings in kubelet's
// environment, and KubeletFilesEnv a digest of its rendered files.
const (
	KubeletSettingsEnv = "CAIRN_KUBELET_SETTINGS"
	KubeletFilesEnv    = "CAIRN_KUBELET_FILES"
)

// Run implements runtime.Controller.
func (c *KubeletSpec) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	recv, n, received, err := nodeEntry(r, c.NodeName)
	if err != nil || !received || n == nil {
		return err
	}
	k := recv.Config.Cluster.Kubernetes
	phase := func(s KubeletPhaseSpec) error { return w.Put(TypeKubeletPhase, IDKubelet, s, nil) }
	switch {
	case k.Disabled:
		return phase(KubeletPhaseSpec{Phase: KubeletPhaseDisabled, Reason: "cluster.kubernetes.disabled is set"})
	case !kube.SameVersion(k.Version):
		return phase(KubeletPhaseSpec{Phase: KubeletPhaseRefused, Reason: fmt.Sprintf("cluster.kubernetes.version is %s, but this node ships Kubernetes %s", k.Version, kube.Version)})
	}
	for _, p := range []string{"kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr", "runc"} {
		if _, err := os.Stat(filepath.Join(c.BinDir, p)); err != nil {
			return phase(KubeletPhaseSpec{Phase: KubeletPhaseUnavailable, Reason: fmt.Sprintf("%s binary: %v", p, err)})
		}
	}
	ctd := kube.Containerd{BinDir: c.BinDir, CNIBinDir: c.CNIBinDir, CNIConfDir: c.Layout.CNIConfDir(),
		Root: c.ContainerdRoot, State: filepath.Dir(kube.ContainerdSocket), NoPivotRoot: c.Host.RootIsRamfs}
	if err := os.MkdirAll(c.Layout.CNIConfDir(), 0o755); err != nil {
		return err
	}
	if _, err := atomicfile.WriteIfDifferent(c.Layout.ContainerdConfig(), ctd.ConfigTOML(), 0o644); err != nil {
		return err
	}
	ctr := filepath.Join(c.BinDir, "ctr")
	env := []string{"PATH=" + c.BinDir} // containerd finds its shim, the shim runc, on PATH
	services := map[string]ServiceSpecSpec{
		ServiceContainerd: {
			Path: filepath.Join(c.BinDir, "containerd"), Args: []string{"--config", c.Layout.ContainerdConfig()},
			Env: env, Restart: "always", StopTimeout: 10 * time.Second,
			Health: &ServiceHealthSpec{Exec: []string{ctr, "--address", kube.ContainerdSocket, "version"},
				Interval: 5 * time.Second, Timeout: 4 * time.Second, FailureThreshold: 3, StartPeriod: 30 * time.Second},
		},
		ServiceImageImport: {
			Path: ctr, Args: []string{"--address", kube.ContainerdSocket, "--namespace", kube.ContainerdNamespace, "images", "import", c.Images},
			Env: env, Restart: "until-success", DependsOn: []string{ServiceContainerd},
		},
	}
	put := func(p KubeletPhaseSpec) error {
		var errs []error
		for name, s := range services {
			errs = append(errs, w.Put(TypeKubeletService, name, s, nil))
		}
		return errors.Join(append(errs, phase(p))...)
	}
	var podCIDR string
	if pn, ok, err := getSpec[PodNetworkSpec](r, TypePodNetwork, IDKubelet); err != nil {
		return err
	} else if ok && pn.PodCIDR != "" {
		conf, err := kube.CNIConfList(pn.PodCIDR)
		if err != nil {
			return err
		}
		if _, err := atomicfile.WriteIfDifferent(filepath.Join(c.Layout.CNIConfDir(), kube.CNIConfFile), conf, 0o644); err != nil {
			return err
		}
		podCIDR = pn.PodCIDR
	}
	imp, _, err := getSpec[ServiceStatusSpec](r, TypeServiceStatus, ServiceImageImport)
	if err != nil {
		return err
	}
	desired := config.KubeletSettingsHash(recv.Config)
	prev, err := readKubeletRunning(c.Layout)
	if err != nil {
		return err
	}
	if imp.State != "finished" && prev.Settings == "" {
		reason := "importing the workload images into containerd"
		if imp.LastError != "" {
			reason += " (last try: " + imp.LastError + ")"
		}
		return put(KubeletPhaseSpec{Phase: KubeletPhaseImages, Reason: reason, PodCIDR: podCIDR})
	}
	creds, ok, err := getSpec[KubeletCredentialsSpec](r, TypeKubeletCredentials, IDKubelet)
	if err != nil {
		return err
	}
	if !ok {
		return put(KubeletPhaseSpec{Phase: KubeletPhaseCredentials, Reason: "waiting for the kubelet's client certificate (KubeletCertificate from a control plane)", PodCIDR: podCIDR})
	}
	grant, _, err := getSpec[KubeRolloutSpec](r, TypeKubeletRollout, IDKubelet)
	if err != nil {
		return err
	}
	if prev.Settings != "" && prev.Settings != desired && grant.Granted != desired {
		services[ServiceKubelet] = prev.Service
		if prev.Proxy.Path != "" {
			services[ServiceKubeProxy] = prev.Proxy
		}
		return put(KubeletPhaseSpec{Phase: KubeletPhaseRunning, PodCIDR: podCIDR, Settings: prev.Settings, Pending: desired,
			Reason: fmt.Sprintf("cluster.kubernetes.kubelet changed (settings %s): waiting for the Raft leader's turn to restart kubelet with them", desired)})
	}
	kl := kube.Kubelet{Layout: c.Layout, Config: recv.Config, Node: n, IP: nodeIP(n), Host: c.Host}
	cfgYAML, err := kl.ConfigYAML()
	if err != nil {
		return errors.Join(phase(KubeletPhaseSpec{Phase: KubeletPhaseRefused, Reason: err.Error()}), err)
	}
	for _, d := range []string{c.Layout.KubeletDir(), c.Layout.StaticPodDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	if _, err := atomicfile.WriteIfDifferent(filepath.Join(c.Layout.KubeletDir(), "config.yaml"), cfgYAML, 0o600); err != nil {
		return err
	}
	args := kl.Args()
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00%q\x00%s", cfgYAML, args, creds.Digest)
	svc := ServiceSpecSpec{
		Path: filepath.Join(c.BinDir, "kubelet"), Args: args, Restart: "always", DependsOn: []string{ServiceContainerd},
		Env:         []string{"PATH=" + c.BinDir, KubeletSettingsEnv + "=" + desired, KubeletFilesEnv + "=" + hex.EncodeToString(sum.Sum(nil))[:12]},
		StopTimeout: 10 * time.Second,
		Health: &ServiceHealthSpec{HTTP: fmt.Sprintf("http://127.0.0.1:%d/healthz", kube.KubeletHealthzPort),
			Interval: 5 * time.Second, Timeout: 4 * time.Second, FailureThreshold: 6, StartPeriod: 60 * time.Second},
	}
	proxy := ServiceSpecSpec{
		Path: filepath.Join(c.BinDir, "kube-proxy"), Args: kube.Proxy{Config: recv.Config, Node: n, Kubeconfig: creds.Kubeconfig}.Args(),
		Restart: "always", StopTimeout: 10 * time.Second,
		Env: []string{"PATH=" + c.BinDir + ":" + kube.ImageNftDir, KubeletSettingsEnv + "=" + desired, KubeletFilesEnv + "=" + creds.Digest},
		Health: &ServiceHealthSpec{HTTP: fmt.Sprintf("http://127.0.0.1:%d/healthz", kube.ProxyHealthzPort),
			Interval: 5 * time.Second, Timeout: 4 * time.Second, FailureThreshold: 6, StartPeriod: 90 * time.Second},
	}
	// Recorded before the services are asked for, as KubeControlPlane does.
	if err := writeKubeletRunning(c.Layout, kubeletRunning{Settings: desired, Service: svc, Proxy: proxy}); err != nil {
		return err
	}
	services[ServiceKubelet], services[ServiceKubeProxy] = svc, proxy
	return put(KubeletPhaseSpec{Phase: KubeletPhaseRunning, Reason: "running containerd and kubelet", Settings: desired, PodCIDR: podCIDR})
}

// kubeletRunning is what this node last started kubelet with.
type kubeletRunning struct {
	Settings string          `json:"settings"`
	Service  ServiceSpecSpec `json:"service"`
	Proxy    ServiceSpecSpec `json:"proxy"`
}

func kubeletRunningFile(l kube.Layout) string { return filepath.Join(l.KubeletDir(), "running.json") }

func readKubeletRunning(l kube.Layout) (kubeletRunning, error) {
	return readJSONFile[kubeletRunning](kubeletRunningFile(l))
}

func writeKubeletRunning(l kube.Layout, k kubeletRunning) error {
	return writeJSONFile(kubeletRunningFile(l), k)
}

// nodeIP is the node's own address: the host of its API endpoint (a
// worker has no Raft endpoint).
func nodeIP(n *config.Node) string {
	host, _, err := net.SplitHostPort(n.APIEndpoint())
	if err != nil {
		return ""
	}
	return host
}
