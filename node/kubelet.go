package node

import (
	"context"

	"connectrpc.com/connect"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/internal/atomicfile"
	"github.com/cairn-project/cairn/internal/kubeconfig"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/cluster/rollout"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/machine/kubeprism"
	"github.com/cairn-project/cairn/node/machine/podroutes"
	"github.com/cairn-project/cairn/node/pki"
	"github.com/cairn-project/cairn/node/runtime"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
	"github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1/clusterv1connect"
	"github.com/cairn-project/cairn/proto/gen/cairn/kubernetes/v1/kubernetesv1connect"
	"sigs.k8s.io/yaml"
)

// containerdRoot is containerd's data, on the node's disk (/var).
const containerdRoot = "/var/lib/containerd"

// runsKubelet reports whether this node runs kubelet: every node that
// owns its machine (container and pid1 modes) and ships kubelet (an image
// without Kubernetes, such as today's initramfs, runs none of its
// machinery: no credentials, no polling). A process-mode node shares the
// host, where kubelet would change host settings, and runs the control
// plane only.
func runsKubelet(o Options) bool {
	if o.Kubernetes == "" || o.Capabilities.Mode == capability.ModeProcess {
		return false
	}
	_, err := os.Stat(filepath.Join(o.Kubernetes, "kubelet"))
	return err == nil
}

// kubeletRolloutID names the rollout of kubelet settings.
const kubeletRolloutID = "kubelet"

// registerKubelet adds the node's kubelet (KubeletSpec, KubeletStatus),
// the Raft leader's rollout of kubelet settings (control planes), and
// returns its sources: the kubelet's credentials, its Node as Kubernetes
// sees it, and the rollout grant's mirror.
func registerKubelet(rt *runtime.Runtime, agent *formation.Agent, self *config.Node, o Options, id *pki.Identity, log *slog.Logger) ([]runtime.Source, error) {
	if !runsKubelet(o) {
		return nil, nil
	}
	layout := kubeLayout(o)
	for _, c := range []runtime.Controller{
		&controllers.KubeletSpec{NodeName: self.Name, Layout: layout, BinDir: o.Kubernetes, CNIBinDir: kube.ImageCNIBinDir,
			Images: kube.ImageWorkloadImages, ContainerdRoot: containerdRoot, Host: kube.DetectHost(o.Capabilities.Mode == capability.ModeContainer)},
		&controllers.KubeletStatus{},
	} {
		if err := rt.Register(c); err != nil {
			return nil, fmt.Errorf("register controller %s: %w", c.Name(), err)
		}
	}
	if self.Role == config.RoleControlPlane {
		coord, err := settingsRollout(agent, kubeletRolloutID, self.Name, o, log, config.KubeletSettingsHash,
			func(c *config.Config) []string {
				out := make([]string, len(c.Nodes))
				for i, n := range c.Nodes {
					out[i] = n.Name
				}
				return out
			},
			func(m gossip.Meta) (string, bool) { return m.KubeletSettings, m.Kubelet == "ready" })
		if err != nil {
			return nil, err
		}
		agent.Store.AddLeaderFunc(coord.Run)
	}
	mirror := &grantMirror{agent: agent, id: kubeletRolloutID, self: self.Name, typ: controllers.TypeKubeletRollout, resID: controllers.IDKubelet,
		apiAddr: self.APIEndpoint(), tls: id.ClientTLS(), every: 2 * time.Second}
	prism := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(kubeprism.Port))
	return []runtime.Source{
		&kubeletCredentials{layout: layout, self: self.Name, server: prism, apiAddr: self.APIEndpoint(), tls: id.ClientTLS(),
			log: log.With("component", "kubelet-credentials")},
		&podNetworkWatch{layout: layout, self: self.Name, server: prism, every: 2 * time.Second},
		mirror,
	}, nil
}

// grantMirror keeps TypeKubeletRollout equal to this node's grant in the
// kubelet rollout's record: from the local replica on a control plane
// (rolloutMirror), and on a worker, which has none, by reading the record
// through its own API every few seconds (stale reads, forwarded to a
// control plane; a late grant only delays a restart).
type grantMirror struct {
	agent      *formation.Agent
	id, self   string
	typ, resID string
	apiAddr    string
	tls        *tls.Config
	every      time.Duration
}

func (m *grantMirror) Name() string      { return "rollout-mirror-" + m.id }
func (m *grantMirror) Outputs() []string { return []string{m.typ} }

func (m *grantMirror) Run(ctx context.Context, w runtime.Writer) error {
	if m.agent.Store != nil {
		return (&rolloutMirror{store: m.agent.Store, id: m.id, self: m.self, typ: m.typ, resID: m.resID}).Run(ctx, w)
	}
	tr := &http.Transport{TLSClientConfig: m.tls, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := clusterv1connect.NewClusterResourceServiceClient(&http.Client{Transport: tr, Timeout: 10 * time.Second}, "https://"+m.apiAddr)
	last := "-"
	for {
		granted, ok := m.read(ctx, client)
		if ok && granted != last {
			if err := w.Put(m.typ, m.resID, controllers.KubeRolloutSpec{Granted: granted}, nil); err != nil {
				return err
			}
			last = granted
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(m.every):
		}
	}
}

func (m *grantMirror) read(ctx context.Context, client clusterv1connect.ClusterResourceServiceClient) (string, bool) {
	res, err := client.GetResource(ctx, connect.NewRequest(&clusterv1.GetResourceRequest{Type: rollout.ResourceType, Id: m.id, Stale: true}))
	if connect.CodeOf(err) == connect.CodeNotFound {
		return "", true
	}
	if err != nil {
		return "", false
	}
	var rec struct {
		Granted map[string]string `json:"granted"`
	}
	if err := yaml.Unmarshal([]byte(res.Msg.GetResource().GetSpecYaml()), &rec); err != nil {
		return "", false
	}
	return rec.Granted[m.self], true
}

// kubeletCredentials keeps the kubelet's client certificate current and
// its kubeconfig written: requested from this node's own API
// (KubeletCertificate; a worker's forwards it to a control plane), renewed
// at two thirds of its life, published as KubeletCredentials once the
// files are in place. A failed request is retried every few seconds; the
// kubelet waits for the resource meanwhile.
type kubeletCredentials struct {
	layout          kube.Layout
	self            string
	server, apiAddr string
	tls             *tls.Config
	log             *slog.Logger
}

func (k *kubeletCredentials) Name() string      { return "kubelet-credentials" }
func (k *kubeletCredentials) Outputs() []string { return []string{controllers.TypeKubeletCredentials} }

func (k *kubeletCredentials) files() (crt, key, ca, kubeconfigPath string) {
	d := k.layout.KubeletDir()
	return filepath.Join(d, "client.crt"), filepath.Join(d, "client.key"), filepath.Join(d, "ca.crt"), filepath.Join(d, "kubeconfig")
}

func (k *kubeletCredentials) Run(ctx context.Context, w runtime.Writer) error {
	tr := &http.Transport{TLSClientConfig: k.tls, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := kubernetesv1connect.NewKubernetesServiceClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}, "https://"+k.apiAddr)
	var lastErr string
	retry := 5 * time.Second
	for {
		wait := 10 * time.Minute
		if err := k.ensure(ctx, client, w); err != nil {
			if err.Error() != lastErr {
				k.log.Warn("kubelet certificate", "error", err)
				lastErr = err.Error()
			}
			// Each try makes a key and a call: back off (Kubernetes may be
			// disabled for good), up to two minutes.
			wait, retry = retry, min(2*retry, 2*time.Minute)
		} else {
			lastErr, retry = "", 5*time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func (k *kubeletCredentials) ensure(ctx context.Context, client kubernetesv1connect.KubernetesServiceClient, w runtime.Writer) error {
	crtPath, keyPath, caPath, kcPath := k.files()
	crt, errC := os.ReadFile(crtPath)
	key, errK := os.ReadFile(keyPath)
	ca, errA := os.ReadFile(caPath)
	_, errKC := os.Stat(kcPath)
	if errors.Join(errC, errK, errA, errKC) != nil || !kubeletCertCurrent(crt, key, ca, k.self, time.Now()) {
		var err error
		crt, key, ca, err = requestKubeletCert(ctx, client, k.self)
		if err != nil {
			return err
		}
		kc, err := kubeconfig.Build(kubeconfig.Params{Cluster: "kubernetes", Server: k.server, CA: ca, Cert: crt, Key: key})
		if err != nil {
			return err
		}
		if err := os.MkdirAll(k.layout.KubeletDir(), 0o700); err != nil {
			return err
		}
		for _, f := range []struct {
			path string
			data []byte
		}{{keyPath, key}, {crtPath, crt}, {caPath, ca}, {kcPath, kc}} {
			if _, err := atomicfile.WriteIfDifferent(f.path, f.data, 0o600); err != nil {
				return err
			}
		}
		k.log.Info("kubelet certificate issued", "user", pki.KubeNodeUserPrefix+k.self)
	}
	leaf, err := pki.ParseCertificatePEM(string(crt))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(crt)
	return w.Put(controllers.TypeKubeletCredentials, controllers.IDKubelet, controllers.KubeletCredentialsSpec{
		Kubeconfig: kcPath, Digest: hex.EncodeToString(sum[:])[:12], Expires: leaf.NotAfter.UTC().Format(time.RFC3339)}, nil)
}

// podNetworkWatch reads this node's Node object through kubeprism with the
// kubelet's own credentials (the Node authorizer lets a kubelet read its
// own Node): registered, Ready, spec.podCIDR, published as PodNetwork
// and, with the kubelet's state, in gossip, where every other node finds
// the pod CIDR to route. It polls (a Node is small, and the kubelet
// itself updates it every few seconds); until the credentials exist it
// publishes nothing.
type podNetworkWatch struct {
	layout       kube.Layout
	self, server string
	every        time.Duration
}

func (p *podNetworkWatch) Name() string      { return "pod-network" }
func (p *podNetworkWatch) Outputs() []string { return []string{controllers.TypePodNetwork} }

// nodeObject is the part of a Kubernetes Node the watch reads.
type nodeObject struct {
	Spec struct {
		PodCIDR string `json:"podCIDR"`
	} `json:"spec"`
	Status struct {
		Conditions []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
	} `json:"status"`
}

func (p *podNetworkWatch) Run(ctx context.Context, w runtime.Writer) error {
	var last *controllers.PodNetworkSpec
	for {
		spec, ok := p.read(ctx)
		if ok && (last == nil || *last != spec) {
			if err := w.Put(controllers.TypePodNetwork, controllers.IDKubelet, spec, nil); err != nil {
				return err
			}
			last = &spec
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(p.every):
		}
	}
}

// read GETs the Node; ok is false while there are no credentials or the
// API does not answer (nothing new is known).
func (p *podNetworkWatch) read(ctx context.Context) (controllers.PodNetworkSpec, bool) {
	d := p.layout.KubeletDir()
	pair, err := tls.LoadX509KeyPair(filepath.Join(d, "client.crt"), filepath.Join(d, "client.key"))
	if err != nil {
		return controllers.PodNetworkSpec{}, false
	}
	caPEM, err := os.ReadFile(filepath.Join(d, "ca.crt"))
	if err != nil {
		return controllers.PodNetworkSpec{}, false
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.server+"/api/v1/nodes/"+p.self, nil)
	if err != nil {
		return controllers.PodNetworkSpec{}, false
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return controllers.PodNetworkSpec{}, false
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return controllers.PodNetworkSpec{Reason: "kubelet has not registered the node"}, true
	default:
		return controllers.PodNetworkSpec{}, false
	}
	var n nodeObject
	if err := json.NewDecoder(http.MaxBytesReader(nil, res.Body, 4<<20)).Decode(&n); err != nil {
		return controllers.PodNetworkSpec{}, false
	}
	out := controllers.PodNetworkSpec{Registered: true, PodCIDR: n.Spec.PodCIDR, Reason: "no Ready condition yet"}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			out.Ready, out.Reason = c.Status == "True", c.Message
			if out.Ready {
				out.Reason = ""
			}
		}
	}
	return out, true
}

// kubeletState is the kubelet in a word or two for Members: "ready" while
// healthy with its Node Ready, "not-ready" while it runs without, else the
// phase ("disabled", "importing-images", ...).
func kubeletState(s controllers.KubeletStatusSpec) string {
	switch {
	case s.Phase == controllers.KubeletPhaseRunning && s.Healthy:
		return "ready"
	case s.Phase == controllers.KubeletPhaseRunning:
		return "not-ready"
	}
	return s.Phase
}

// podRoutes returns the node's pod routes to run (node/machine/podroutes),
// or nil where it runs no kubelet: every alive member's advertised pod
// CIDR, via its API address (the node's own address).
func podRoutes(agent *formation.Agent, self *config.Node, o Options, log *slog.Logger) func(context.Context) error {
	if !runsKubelet(o) || !o.Capabilities.Has(capability.KernelNetwork) {
		return nil
	}
	peers := func() []podroutes.Peer {
		var out []podroutes.Peer
		for _, m := range agent.Members() {
			if m.State != gossip.StateAlive || m.Meta.PodCIDR == "" {
				continue
			}
			cidr, err := netip.ParsePrefix(m.Meta.PodCIDR)
			if err != nil {
				continue
			}
			out = append(out, podroutes.Peer{Name: m.Name, PodCIDR: cidr, Via: m.Meta.APIAddr.Addr()})
		}
		return out
	}
	return func(ctx context.Context) error {
		return podroutes.Loop(ctx, self.Name, peers, nil, 2*time.Second, log.With("component", "pod-routes"))
	}
}
