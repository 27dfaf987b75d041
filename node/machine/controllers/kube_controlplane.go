package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cairn-project/cairn/internal/atomicfile"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/runtime"
)

// KubeControlPlane turns (the received config, this control plane's etcd
// phase, its bootstrap secrets) into the Kubernetes control-plane
// components it runs — kube-apiserver against the local etcd member,
// kube-controller-manager and kube-scheduler against the local apiserver,
// both with leader election — and says in KubePhase why it runs them or
// not:
//
//   - cluster.kubernetes.disabled: nothing runs (KubePhaseDisabled);
//   - no Kubernetes binaries on this node, or a cluster.kubernetes.version
//     other than the one they are: unavailable or refused, with the reason;
//   - the local etcd member not yet started as a member: wait;
//   - otherwise write the files (kube.WriteControlPlaneFiles) and ask for
//     the three services. Their specs carry a digest of the files, so a
//     renewed certificate restarts them;
//   - but once components run, a change of the control-plane settings
//     (config.KubeControlPlaneSettingsHash) waits for the Raft leader's
//     grant (KubeRollout, node/cluster/rollout): until then the services
//     this node last started stay as they are (kept in
//     kubernetes/running.json), so control planes restart one at a time.
//
// The components run as supervised processes where there is no kubelet
// (process mode), and as kubelet's static pods where there is (StaticPods:
// container and pid1 modes, the Talos way): the same command lines,
// environment and health URLs, rendered by kube.StaticPod into the static
// pod directory instead of KubeService resources; a manifest that changes
// makes kubelet restart the pod, one that goes away stops it.
type KubeControlPlane struct {
	NodeName string
	Layout   kube.Layout
	// BinDir holds the component binaries; empty when this node has none.
	BinDir string
	// Secrets are this control plane's bootstrap secrets.
	Secrets config.Secrets
	// EtcdURL is the local etcd member's client URL.
	EtcdURL string
	// StaticPods: run the components as kubelet's static pods.
	StaticPods bool
	Now        func() time.Time
}

// Name implements runtime.Controller.
func (c *KubeControlPlane) Name() string { return "kube-control-plane" }

// Inputs implements runtime.Controller.
func (c *KubeControlPlane) Inputs() []runtime.Input {
	return []runtime.Input{{Type: TypeClusterConfig, ID: IDCluster}, {Type: TypeEtcdPhase, ID: IDEtcd}, {Type: TypeClock, ID: IDDay},
		{Type: TypeKubeRollout, ID: IDKubernetes}}
}

// Outputs implements runtime.Controller.
func (c *KubeControlPlane) Outputs() []string { return []string{TypeKubeService, TypeKubePhase} }

// etcdStarted are the etcd phases in which the local member runs (or is
// about to), which is when an apiserver can reach it.
var etcdStarted = []string{EtcdPhaseBootstrapping, EtcdPhaseJoining, EtcdPhaseMember}

// Run implements runtime.Controller.
func (c *KubeControlPlane) Run(_ context.Context, r runtime.Reader, w runtime.Writer) error {
	recv, n, received, err := nodeEntry(r, c.NodeName)
	if err != nil || !received || n == nil || n.Role != config.RoleControlPlane {
		return err // a worker's (or a removed node's) outputs are cleaned up
	}
	k := recv.Config.Cluster.Kubernetes
	phase := func(p, reason string) error {
		return errors.Join(c.removePods(nil),
			w.Put(TypeKubePhase, IDKubernetes, KubePhaseSpec{Phase: p, Reason: reason, Version: kube.Version, StaticPods: c.StaticPods}, nil))
	}
	switch {
	case k.Disabled:
		return phase(KubePhaseDisabled, "cluster.kubernetes.disabled is set")
	case c.BinDir == "":
		return phase(KubePhaseUnavailable, "this node has no Kubernetes binaries (cairnd --kubernetes)")
	case !kube.SameVersion(k.Version):
		return phase(KubePhaseRefused, fmt.Sprintf("cluster.kubernetes.version is %s, but this node ships Kubernetes %s", k.Version, kube.Version))
	}
	for _, name := range kube.ControlPlaneComponents {
		if _, err := os.Stat(filepath.Join(c.BinDir, name)); err != nil {
			return phase(KubePhaseUnavailable, fmt.Sprintf("%s binary: %v", name, err))
		}
	}
	ep, _, err := getSpec[EtcdPhaseSpec](r, TypeEtcdPhase, IDEtcd)
	if err != nil {
		return err
	}
	if !slices.Contains(etcdStarted, ep.Phase) {
		reason := "waiting for the local etcd member"
		if ep.Phase != "" {
			reason += " (etcd: " + ep.Phase + ")"
		}
		return phase(KubePhaseWaitingEtcd, reason)
	}
	desired := config.KubeControlPlaneSettingsHash(recv.Config)
	prev, err := readRunning(c.Layout)
	if err != nil {
		return err
	}
	grant, _, err := getSpec[KubeRolloutSpec](r, TypeKubeRollout, IDKubernetes)
	if err != nil {
		return err
	}
	if prev.Settings != "" && prev.Settings != desired && grant.Granted != desired {
		// Keep what runs until the leader's turn for this control plane.
		errs := []error{c.apply(w, prev.Services)}
		errs = append(errs, w.Put(TypeKubePhase, IDKubernetes, KubePhaseSpec{Phase: KubePhaseRunning, StaticPods: c.StaticPods,
			Reason:  fmt.Sprintf("cluster.kubernetes changed (settings %s): waiting for the Raft leader's turn to restart with them", desired),
			Version: kube.Version, Components: slices.Sorted(maps.Keys(prev.Services)), APIServer: prev.APIServer, Files: prev.Files,
			Settings: prev.Settings, Pending: desired}, nil))
		return errors.Join(errs...)
	}
	in := kube.Inputs{Config: recv.Config, Node: n, IP: etcdIP(n), Secrets: c.Secrets, Now: c.now()}
	if _, err := kube.WriteControlPlaneFiles(c.Layout, in); err != nil {
		if errors.Is(err, kube.ErrMissingSecret) {
			return errors.Join(phase(KubePhaseRefused, err.Error()), err)
		}
		return err
	}
	digest, err := filesDigest(c.Layout.Dir)
	if err != nil {
		return err
	}
	cp := kube.ControlPlane{Layout: c.Layout, BinDir: c.BinDir, EtcdURL: c.EtcdURL, Inputs: in}
	comps, err := cp.Components()
	if err != nil {
		return errors.Join(phase(KubePhaseRefused, err.Error()), err)
	}
	run := runningServices{Settings: desired, APIServer: kube.APIServerURL(in.IP), Files: digest, Services: map[string]ServiceSpecSpec{}}
	var names []string
	for _, comp := range comps {
		deps := []string{kube.APIServer}
		if comp.Name == kube.APIServer {
			deps = []string{"etcd"}
		}
		names = append(names, comp.Name)
		run.Services[comp.Name] = ServiceSpecSpec{
			Path: comp.Path, Args: comp.Args, Restart: "always", DependsOn: deps,
			Env:         []string{KubeFilesEnv + "=" + digest, KubeSettingsEnv + "=" + desired},
			StopTimeout: 10 * time.Second,
			Health: &ServiceHealthSpec{HTTP: comp.HealthURL, CAFile: comp.HealthCA, Interval: 5 * time.Second,
				Timeout: 4 * time.Second, FailureThreshold: 6, StartPeriod: 60 * time.Second},
		}
	}
	// Recorded before the services are asked for: a crash in between
	// leaves a record of what is about to run, which the next pass asks
	// for again.
	if err := writeRunning(c.Layout, run); err != nil {
		return err
	}
	errs := []error{c.apply(w, run.Services)}
	errs = append(errs, w.Put(TypeKubePhase, IDKubernetes, KubePhaseSpec{Phase: KubePhaseRunning, StaticPods: c.StaticPods, Reason: "running the control plane against the local etcd member",
		Version: kube.Version, Components: names, APIServer: run.APIServer, Files: digest, Settings: desired}, nil))
	return errors.Join(errs...)
}

// apply asks for the components: as KubeService resources, or as static
// pod manifests (and no resource).
func (c *KubeControlPlane) apply(w runtime.Writer, services map[string]ServiceSpecSpec) error {
	if !c.StaticPods {
		var errs []error
		for _, name := range slices.Sorted(maps.Keys(services)) {
			errs = append(errs, w.Put(TypeKubeService, name, services[name], nil))
		}
		return errors.Join(errs...)
	}
	if err := os.MkdirAll(c.Layout.StaticPodDir(), 0o700); err != nil {
		return err
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		url := ""
		if s.Health != nil {
			url = s.Health.HTTP
		}
		pod, err := kube.StaticPod(name, s.Args, s.Env, url, c.Layout.Dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = atomicfile.WriteIfDifferent(c.staticPodFile(name), pod, 0o600)
		errs = append(errs, err)
	}
	return errors.Join(append(errs, c.removePods(services))...)
}

func (c *KubeControlPlane) staticPodFile(name string) string {
	return filepath.Join(c.Layout.StaticPodDir(), name+".yaml")
}

// removePods removes the static pod manifests of components not in keep
// (all of them for nil): kubelet stops their pods.
func (c *KubeControlPlane) removePods(keep map[string]ServiceSpecSpec) error {
	if !c.StaticPods {
		return nil
	}
	var errs []error
	for _, name := range kube.ControlPlaneComponents {
		if _, ok := keep[name]; ok {
			continue
		}
		if err := os.Remove(c.staticPodFile(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// KubeFilesEnv carries the digest of the control plane's files in each
// component's environment, and KubeSettingsEnv its settings.
const (
	KubeFilesEnv    = "CAIRN_KUBE_FILES"
	KubeSettingsEnv = "CAIRN_KUBE_SETTINGS"
)

// runningServices is what this control plane last started its components
// with: their settings and service specs, kept in kubernetes/running.json
// so that a settings change waiting for its turn keeps them, across
// restarts of cairnd too.
type runningServices struct {
	Settings  string                     `json:"settings"`
	APIServer string                     `json:"apiServer,omitempty"`
	Files     string                     `json:"files,omitempty"`
	Services  map[string]ServiceSpecSpec `json:"services"`
}

func runningFile(l kube.Layout) string { return filepath.Join(l.Dir, "running.json") }

// readRunning reads running.json; none yet is the zero value.
func readRunning(l kube.Layout) (runningServices, error) {
	return readJSONFile[runningServices](runningFile(l))
}

func writeRunning(l kube.Layout, r runningServices) error { return writeJSONFile(runningFile(l), r) }

// readJSONFile reads a JSON record of the node's own (what it last
// started); a file that does not exist is the zero value.
func readJSONFile[T any](path string) (T, error) {
	var v T
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// writeJSONFile writes v as indented JSON to path (0600, its directory
// made), atomically and only when it changed.
func writeJSONFile(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	_, err = atomicfile.WriteIfDifferent(path, append(raw, '\n'), 0o600)
	return err
}

func (c *KubeControlPlane) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// filesDigest hashes every regular file under dir (names and contents, in
// order), 12 hex digits.
func filesDigest(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if filepath.Base(filepath.Dir(p)) != "pki" && filepath.Ext(p) != ".conf" {
			return nil // the components' own files (cert dirs)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("digest %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}
