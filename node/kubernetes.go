package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/internal/kubeconfig"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/cluster/rollout"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/machine/kube"
	"github.com/cairn-project/cairn/node/machine/kubeprism"
	"github.com/cairn-project/cairn/node/pki"
	"github.com/cairn-project/cairn/node/runtime"
)

// kubeLayout is where a control plane keeps its Kubernetes files.
func kubeLayout(o Options) kube.Layout {
	return kube.Layout{Dir: filepath.Join(o.StateDir, "kubernetes")}
}

// registerKubernetes adds a control plane's Kubernetes controllers
// (KubeControlPlane, KubernetesStatus; where kubelet runs, the components
// are its static pods, observed by KubePodStatus). Workers get none (their
// kubelet is registerKubelet's), nor do nodes run without etcd or
// without Kubernetes binaries (Options.Etcd or Options.Kubernetes empty:
// package tests of the spine); a control plane whose binaries are missing
// says so in KubernetesStatus.
func registerKubernetes(rt *runtime.Runtime, agent *formation.Agent, cfg *config.Config, self *config.Node, o Options, log *slog.Logger) ([]runtime.Source, error) {
	if self.Role != config.RoleControlPlane || o.Etcd == "" || o.Kubernetes == "" {
		return nil, nil
	}
	m := localMember(self, o)
	for _, c := range []runtime.Controller{
		&controllers.KubeControlPlane{NodeName: self.Name, Layout: kubeLayout(o), BinDir: o.Kubernetes, Secrets: cfg.Secrets, EtcdURL: m.ClientURL(),
			StaticPods: runsKubelet(o)},
		&controllers.KubernetesStatus{},
	} {
		if err := rt.Register(c); err != nil {
			return nil, fmt.Errorf("register controller %s: %w", c.Name(), err)
		}
	}
	coord, err := settingsRollout(agent, kubeRolloutID, self.Name, o, log, config.KubeControlPlaneSettingsHash,
		func(c *config.Config) []string { return nodeNames(c.ControlPlanes()) },
		func(m gossip.Meta) (string, bool) { return m.KubeSettings, m.Kubernetes == "ready" })
	if err != nil {
		return nil, err
	}
	agent.Store.AddLeaderFunc(coord.Run)
	if cfg.Secrets.KubernetesCA.Key != "" {
		addons := &kubeAddonsApplier{ca: cfg.Secrets.KubernetesCA, server: kube.APIServerURL(etcdHost(self)),
			log: log.With("component", "kube-addons"), config: func(ctx context.Context) (*config.Config, bool) {
				st, err := cfgstore.Get(ctx, agent.Store, consensus.Stale)
				if err != nil || st.Config.Cluster.Kubernetes.Disabled {
					return nil, false
				}
				return st.Config, true
			}, kubelets: func() bool {
				for _, m := range agent.Members() {
					if m.State == gossip.StateAlive && m.Meta.Kubelet != "" {
						return true
					}
				}
				return false
			}}
		agent.Store.AddLeaderFunc(addons.run)
	}
	sources := []runtime.Source{&rolloutMirror{store: agent.Store, id: kubeRolloutID, self: self.Name,
		typ: controllers.TypeKubeRollout, resID: controllers.IDKubernetes}}
	if runsKubelet(o) {
		// The components are kubelet's static pods: observed, not supervised.
		sources = append(sources, &controllers.KubePodStatus{IP: etcdHost(self), CAFile: kubeLayout(o).File("ca.crt"), Every: 2 * time.Second})
	}
	return sources, nil
}

// settingsRollout is the Raft leader's rollout (node/cluster/rollout) of
// one kind of Kubernetes settings: it wants hash of the stored config
// (nothing while Kubernetes is disabled), over the nodes of the config
// nodes picks, each running what meta reports in gossip (the settings
// its healthy components run with, and whether they are healthy).
func settingsRollout(agent *formation.Agent, id, self string, o Options, log *slog.Logger, hash func(*config.Config) string,
	nodes func(*config.Config) []string, meta func(gossip.Meta) (running string, healthy bool)) (*rollout.Coordinator, error) {
	return rollout.New(rollout.Config{
		Store: agent.Store, ID: id, Self: self,
		Want: func(ctx context.Context) (string, bool) {
			st, err := cfgstore.Get(ctx, agent.Store, consensus.Stale)
			if err != nil || st.Config.Cluster.Kubernetes.Disabled {
				return "", false
			}
			return hash(st.Config), true
		},
		View: func(ctx context.Context) ([]rollout.Node, bool) {
			st, err := cfgstore.Get(ctx, agent.Store, consensus.Stale)
			if err != nil {
				return nil, false
			}
			members := map[string]gossip.Member{}
			for _, m := range agent.Gossip().Members() {
				members[m.Name] = m
			}
			var out []rollout.Node
			for _, name := range nodes(st.Config) {
				v := rollout.Node{Name: name}
				if g, ok := members[name]; ok && g.State == gossip.StateAlive {
					v.Running, v.Healthy = meta(g.Meta)
				}
				out = append(out, v)
			}
			return out, true
		},
		Interval: max(o.Profile.Autopilot.Interval, 500*time.Millisecond),
		Logger:   log,
	})
}

// nodeNames are the names of ns.
func nodeNames(ns []*config.Node) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

// kubeRolloutID names the rollout of the Kubernetes control-plane settings.
const kubeRolloutID = "kubernetes-control-plane"

// rolloutMirror keeps a local resource equal to this node's grant in one
// rollout's record in its replica (stale reads are right: a lagging
// replica only delays a restart the leader allowed).
type rolloutMirror struct {
	store      *consensus.Store
	id, self   string
	typ, resID string
}

func (m *rolloutMirror) Name() string      { return "rollout-mirror-" + m.id }
func (m *rolloutMirror) Outputs() []string { return []string{m.typ} }

func (m *rolloutMirror) Run(ctx context.Context, w runtime.Writer) error {
	watch, err := m.store.Watch(ctx, rollout.ResourceType, m.store.Revision()+1)
	if err != nil {
		return fmt.Errorf("watch rollout %s: %w", m.id, err)
	}
	if err := m.publish(ctx, w); err != nil {
		return err
	}
	for ev := range watch.Events() {
		if ev.Resource.ID != m.id {
			continue
		}
		if err := m.publish(ctx, w); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("rollout %s watch ended: %w", m.id, watch.Err())
}

func (m *rolloutMirror) publish(ctx context.Context, w runtime.Writer) error {
	var spec controllers.KubeRolloutSpec
	res, _, err := m.store.Get(ctx, rollout.ResourceType, m.id, consensus.Stale)
	switch {
	case errors.Is(err, consensus.ErrNotFound):
	case err != nil:
		return err
	default:
		rec, err := rollout.Decode(res)
		if err != nil {
			return err
		}
		spec.Granted = rec.Granted[m.self]
	}
	return w.Put(m.typ, m.resID, spec, nil)
}

// localKubeOps returns the kubeconfig issuer of a control plane that runs
// Kubernetes, or nil (a literal nil, so the API answers that this node
// hands out none).
func localKubeOps(state *runtime.State, cfg *config.Config, self *config.Node, o Options) api.KubernetesOps {
	if self.Role != config.RoleControlPlane || o.Kubernetes == "" || cfg.Secrets.KubernetesCA.Crt == "" {
		return nil
	}
	return &kubeOps{state: state, ca: cfg.Secrets.KubernetesCA, clusterName: cfg.Cluster.Name, localURL: kube.APIServerURL(etcdHost(self))}
}

// kubeOps hands out admin kubeconfigs on a control plane (api.KubernetesOps):
// a client certificate for the cluster-admin group issued from the
// Kubernetes CA of this node's bootstrap secrets, pointing at
// cluster.kubernetes.endpoint or else at this control plane's apiserver.
type kubeOps struct {
	state       *runtime.State
	ca          config.CertKeyPair
	clusterName string
	localURL    string
}

// AdminKubeconfig implements api.KubernetesOps.
func (k *kubeOps) AdminKubeconfig(_ context.Context, ttl time.Duration) ([]byte, string, time.Time, error) {
	if ttl <= 0 || ttl > 10*365*24*time.Hour {
		return nil, "", time.Time{}, fmt.Errorf("%w: %s (between 1s and 10 years)", api.ErrKubeconfigTTL, ttl)
	}
	recv, received, err := controllers.ReceivedConfig(k.state)
	switch {
	case err != nil:
		return nil, "", time.Time{}, err
	case !received:
		return nil, "", time.Time{}, errors.New("this node has no cluster config yet")
	}
	kc := recv.Config.Cluster.Kubernetes
	if kc.Disabled {
		return nil, "", time.Time{}, api.ErrKubernetesDisabled
	}
	server := kc.Endpoint
	if server == "" {
		server = k.localURL
	}
	pair, err := pki.IssueKubeClient(k.ca, pki.KubeAdminUser, []string{pki.KubeAdminGroup}, ttl, time.Now())
	if err != nil {
		return nil, "", time.Time{}, err
	}
	crt, err := pki.ParseCertificatePEM(pair.Crt)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	data, err := kubeconfig.Build(kubeconfig.Params{Cluster: k.clusterName, Server: server,
		CA: []byte(k.ca.Crt), Cert: []byte(pair.Crt), Key: []byte(pair.Key)})
	if err != nil {
		return nil, "", time.Time{}, err
	}
	return data, server, crt.NotAfter, nil
}

// newKubePrism returns the node's Kubernetes API endpoint (node/machine/
// kubeprism) as a component to run, or nil where the node runs no
// Kubernetes (Options.Kubernetes empty). It listens on 127.0.0.1:7445
// where the node owns its network (pid1 and container modes: the address
// every apiserver certificate names) and on the node's own address in
// process mode, where nodes share the host's loopback. The apiservers it
// forwards to are the control planes gossip says are alive with healthy
// Kubernetes components, this node's own first.
func newKubePrism(agent *formation.Agent, self *config.Node, o Options, log *slog.Logger) func(context.Context) error {
	if o.Kubernetes == "" {
		return nil
	}
	host := "127.0.0.1"
	if o.Capabilities.Mode == capability.ModeProcess {
		h, _, err := net.SplitHostPort(self.APIEndpoint())
		if err != nil {
			return nil
		}
		host = h
	}
	listen := net.JoinHostPort(host, strconv.Itoa(kubeprism.Port))
	p := &kubeprism.Proxy{Logger: log.With("component", "kubeprism"), Endpoints: func() []string {
		var own, others []string
		for _, m := range agent.Members() {
			if m.Meta.Role != gossip.RoleControlPlane || m.State != gossip.StateAlive || m.Meta.Kubernetes != "ready" || !m.Meta.RaftAddr.IsValid() {
				continue
			}
			ep := net.JoinHostPort(m.Meta.RaftAddr.Addr().String(), strconv.Itoa(kube.APIServerPort))
			if m.Name == self.Name {
				own = append(own, ep)
			} else {
				others = append(others, ep)
			}
		}
		rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
		return append(own, others...)
	}}
	return func(ctx context.Context) error {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("kubeprism: %w", err)
		}
		log.Info("kubeprism listening", "address", listen)
		return p.Serve(ctx, ln)
	}
}
