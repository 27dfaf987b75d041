package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/internal/version"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/artifacts"
	"github.com/cairn-project/cairn/node/machine/capability"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/machine/network"
	"github.com/cairn-project/cairn/node/machine/nodelog"
	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/runtime"
)

// Options configures one node.
type Options struct {
	// Config is the cluster config document, the same on every node.
	Config []byte
	// Name selects this node's entry (match rules: name first).
	Name string
	// StateDir holds this node's persistent state (raft/).
	StateDir string
	// Capabilities is what this machine may do, decided once from the mode
	// (capability.ForMode); controllers ask it, and MachineStatus reports
	// what it lacks.
	Capabilities capability.Set
	Profile      formation.Profile
	// BootSlot is the A/B slot this node was started from (the boot
	// stage's CAIRN_BOOT_SLOT), reported by the API (Version) and in
	// gossip (get members); "" is slot A.
	BootSlot string
	// BootTrial says the boot stage started this node from a slot on
	// trial (CAIRN_BOOT_TRIAL=1): an upgrade it has not confirmed yet.
	BootTrial bool
	Logger    *slog.Logger
	// Log, when set, is the log Logger writes to (cairnd's own): the API
	// serves it as the service "cairnd" and changes its level.
	Log *nodelog.Log
	// Ready, when set, is closed once the API is serving.
	Ready chan<- struct{}
	// Fault, when set, arms a consensus fault point on a control plane
	// once its store is open: integration tests only (consensus.FaultEnv).
	Fault *consensus.Fault
	// ListenAll makes the API listen on every address at its port rather
	// than on its advertised address only: in pid1 and container modes a
	// host forward (QEMU's 10.0.2.15, a published container port) reaches
	// the node at an address the config does not know.
	ListenAll bool
	// ImageModules are the kernel modules the boot image needs for its own
	// devices, reported (and loaded again, a no-op) with the config's.
	ImageModules []string
	// Boot, when set, is what the boot steps before Run did (pid1 mode),
	// published as BootStatus and StateDiskStatus.
	Boot *controllers.BootReport
	// Reaper, when set, is the orphan reaper of this process (PID 1),
	// through which the supervisor starts its children.
	Reaper supervisor.Reaper
	// Services are services the boot asks for beside the controllers'
	// (ID = name), published as ServiceSpecs: in pid1 mode the test-only
	// stand-in of cairn.testservice= (cmd/cairnd test-orphans).
	Services map[string]controllers.ServiceSpecSpec
	// Etcd is the etcd binary a control plane runs its member with. Empty
	// leaves etcd out of this node altogether (package tests of the spine);
	// cairnd always sets it, and a path that does not exist is reported
	// in EtcdStatus.
	Etcd string
	// EtcdFault arms a fault point of the etcd coordinator
	// (EtcdFaultEnv): integration tests only.
	EtcdFault string
	// EtcdPorts, when set, replaces etcd's client and peer ports (2379,
	// 2380): tests that run several clusters on one address.
	EtcdPorts *EtcdPorts
	// Kubernetes is the directory of the Kubernetes component binaries
	// (kube-apiserver, ... as links to the multi-call kube binary) a
	// control plane runs. Empty leaves Kubernetes out of this node
	// (package tests of the spine); cairnd always sets it, and a missing
	// binary is reported in KubernetesStatus.
	Kubernetes string
}

// EtcdPorts are an etcd member's client and peer ports.
type EtcdPorts struct{ Client, Peer int }

// Run runs the node until ctx ends. It fails fast, before touching any
// state, when the config is invalid or names no entry for this node. After
// a power request through the API (Reboot, Shutdown, Reset) it stops as it
// does when ctx ends and returns the *power.Request as its error; for a
// reset it wipes the state directory first.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := config.Load(o.Config)
	if err != nil {
		return fmt.Errorf("load cluster config: %w", err)
	}
	self, err := cfg.NodeFor(o.Name, network.HardwareAddrs(), hostname())
	if err != nil {
		return fmt.Errorf("find this node in the cluster config: %w", err)
	}
	log = slog.New(onceAttrs(log.Handler(), "node")).With("node", self.Name)
	key, err := base64.StdEncoding.DecodeString(cfg.Secrets.GossipKey)
	if err != nil {
		return fmt.Errorf("decode gossip key: %w", err)
	}
	var candidates []string
	for i, cp := range cfg.ControlPlanes() {
		if i < cfg.Cluster.ControlPlane.Expect {
			candidates = append(candidates, cp.Name)
		}
	}
	role := gossip.RoleWorker
	if self.Role == config.RoleControlPlane {
		role = gossip.RoleControlPlane
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	if err := checkRemoved(o.StateDir); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listenAddr(self.APIEndpoint(), o.ListenAll))
	if err != nil {
		return fmt.Errorf("listen for the node API: %w", err)
	}
	stateID, err := loadStateID(o.StateDir)
	if err != nil {
		_ = ln.Close()
		return err
	}
	keyring, err := loadKeyring(o.StateDir, key)
	if err != nil {
		_ = ln.Close()
		return err
	}
	is := &issuer{cfg: cfg, self: self, log: log.With("component", "pki")}
	id, err := is.identity(ctx)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("node identity: %w", err)
	}
	agent, err := formation.Start(formation.Config{
		Name: self.Name, Role: role, DataDir: filepath.Join(o.StateDir, "raft"),
		GossipAddr: self.GossipEndpoint(), RaftAddr: self.RaftEndpoint(), APIAddr: self.APIEndpoint(),
		ClusterID: cfg.Cluster.ID, GossipKey: keyring.primary, ExtraGossipKeys: keyring.extra(), Seeds: cfg.SeedAddresses(),
		Expect: cfg.Cluster.ControlPlane.Expect, Candidates: candidates,
		Version: version.Version, BootSlot: o.bootSlot(), Profile: o.Profile, Logger: log,
		RaftTLS:         &consensus.TLSConfig{Server: id.RaftServerTLS(), Client: id.RaftClientTLS()},
		StateID:         stateID,
		ConfiguredNodes: configuredNodes,
		Peers:           peerGossipAddrs(cfg, self.Name),
	})
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("join cluster: %w", err)
	}
	keyring.agent = agent
	agent.SetBoot(bootMeta(o, log))
	if o.Fault != nil && self.Role == config.RoleControlPlane {
		agent.Store.InjectFault(*o.Fault)
	}
	state := runtime.NewState()
	rt := runtime.New(state, runtime.Options{Logger: log})
	// The supervisor runs the services that controllers ask for with
	// ServiceSpec resources (etcd and kubelet next); ServiceApply converges
	// it and ServiceStatus reports it. Nothing here starts a named service.
	sup := supervisor.New(supervisor.Options{Logger: log, LogDir: filepath.Join(o.StateDir, "logs"), Reaper: o.Reaper})
	if err := registerControllers(rt, agent, self.Name, o.Capabilities, sup, log); err != nil {
		_ = ln.Close()
		return errors.Join(err, agent.Close())
	}
	if err := registerBoot(rt, self.Name, o); err != nil {
		_ = ln.Close()
		return errors.Join(err, agent.Close())
	}
	etcdSources, err := registerEtcd(rt, agent, sup, cfg, self, stateID, o, log)
	if err != nil {
		_ = ln.Close()
		return errors.Join(err, agent.Close())
	}
	kubeSources, err := registerKubernetes(rt, agent, cfg, self, o, log)
	if err != nil {
		_ = ln.Close()
		return errors.Join(err, agent.Close())
	}
	etcdSources = append(etcdSources, kubeSources...)
	kubeletSources, err := registerKubelet(rt, agent, self, o, id, log)
	if err != nil {
		_ = ln.Close()
		return errors.Join(err, agent.Close())
	}
	etcdSources = append(etcdSources, kubeletSources...)
	removed := make(chan uint64, 1)
	sources := []runtime.Source{
		&configSource{log: log.With("component", "config-source"), apiAddr: self.APIEndpoint(), tls: id.ClientTLS(), self: self.Name},
		controllers.KernelEvents{},
		&controllers.ServiceStatus{Supervisor: sup},
		&gossipStatus{agent: agent, every: time.Second},
		&certificateRenewal{is: is, id: id, every: time.Hour},
	}
	sources = append(sources, etcdSources...)
	if r, ok := o.Reaper.(controllers.ReapObserver); ok {
		sources = append(sources, &controllers.ReaperStatus{Reaper: r})
	}
	controlPlane := self.Role == config.RoleControlPlane
	if controlPlane {
		sources = append(sources, newConfigSeed(log.With("component", "config-seed"), agent.Store, cfg))
	}
	if err := rt.Register(&healthReport{report: agent.SetFailing, etcd: agent.SetEtcd, kubernetes: agent.SetKubernetes, kubelet: agent.SetKubelet}); err != nil {
		_ = ln.Close()
		return errors.Join(err, agent.Close())
	}
	var servers raftServers // a worker is no Raft server
	if controlPlane {
		servers = agent.Store
	}
	if err := rt.Register(&removal{
		log: log.With("controller", "node-removal"), dir: o.StateDir, gossip: agent, servers: servers,
		stop: func(rev uint64) {
			select {
			case removed <- rev:
			default:
			}
		},
	}); err != nil {
		_ = ln.Close()
		return errors.Join(err, agent.Close())
	}
	for _, src := range sources {
		if err := rt.RegisterSource(src); err != nil {
			_ = ln.Close()
			return errors.Join(fmt.Errorf("register source %s: %w", src.Name(), err), agent.Close())
		}
	}
	apiOpts := api.Options{
		NodeName: self.Name, Mode: o.Capabilities.Mode, Slot: o.bootSlot(), Membership: agent, Resources: state, Services: sup,
		Identity: id, JoinToken: cfg.Secrets.JoinToken, Keyring: keyring, Logger: log,
		// Long enough for an election and a paused leader's replacement.
		LeaderHold: 10 * o.Profile.Raft.ElectionTimeout,
	}
	if self.Role == config.RoleControlPlane {
		apiOpts.ControlPlane, apiOpts.Replica, apiOpts.CA = true, agent.Store, &cfg.Secrets.CA
		if cfg.Secrets.KubernetesCA.Key != "" { // signs every node's kubelet certificate
			apiOpts.KubeCA = &cfg.Secrets.KubernetesCA
		}
	}
	pc := newPowerControl(agent)
	apiOpts.Power, apiOpts.BootID, apiOpts.StateID = pc, bootID(o.Capabilities.Mode), stateID
	if o.Log != nil { // a nil *nodelog.Log must not become a non-nil api.NodeLog
		apiOpts.NodeLog = o.Log
	}
	if ops := localEtcdOps(self, o); ops != nil {
		apiOpts.Etcd, apiOpts.EtcdRecovery = ops, etcdRecovery(agent.Store, self, stateID, o, log)
	}
	if ops := localKubeOps(state, cfg, self, o); ops != nil {
		apiOpts.Kubernetes = ops
	}
	apiOpts.Images, apiOpts.ImageUploadDir = localImageOps(o), imageUploads(o)
	arts := &artifacts.Store{Dir: filepath.Join(o.StateDir, "artifacts")}
	apiOpts.Artifacts = arts
	apiOpts.Upgrades = registerUpgrades(agent, cfg, self, o, arts, id.ClientTLS(), log)
	srv := api.New(apiOpts)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if o.Ready != nil {
		close(o.Ready)
	}

	ctrlCtx, stopControllers := context.WithCancel(ctx)
	var background sync.WaitGroup
	// run starts one of the node's components; errors other than the stop
	// itself are logged. The loops that feed the state are runtime sources.
	run := func(what string, fn func(context.Context) error) {
		background.Go(func() {
			if err := fn(ctrlCtx); err != nil && ctrlCtx.Err() == nil {
				log.Error("component stopped", "component", what, "error", err)
				agent.Degrade(what)
			}
		})
	}
	run("controller runtime", rt.Run)
	run("supervisor", sup.Run)
	if prism := newKubePrism(agent, self, o, log); prism != nil {
		run("kubeprism", prism)
	}
	if routes := podRoutes(agent, self, o, log); routes != nil {
		run("pod routes", routes)
	}
	run("upgrade agent", newUpgradeAgent(agent, self.Name, self.APIEndpoint(), o, arts, id.ClientTLS(), localEtcdOps(self, o), log).Run)

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("node API stopped: %w", err)
	case rev := <-removed:
		err = fmt.Errorf("%w at config revision %d", ErrRemoved, rev)
	case r := <-pc.requests:
		// A power request: stop as for any other end, then main acts on it.
		err = r
	case <-storeStopped(agent):
		// Fail-stop (etcd's rule): a replica that cannot write or apply
		// its log must not keep serving; the boot stage restarts the node.
		err = storageFault(agent)
	}
	log.Info("shutting down")
	stopControllers()
	waitStopped(&background, componentStopTimeout, log)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, srv.Shutdown(shutdownCtx), agent.Close())
	if errors.Is(err, ErrStorageFault) {
		// The node's last line says why it stopped (cairnd exits 1 without
		// repeating it).
		log.Error("stopping on a storage fault", "error", err)
	}
	return finishPower(err, o.StateDir)
}

// registerControllers adds the node's controllers to the runtime. A node
// that may not own the kernel's network (process mode) plans and reports
// instead of applying.
func registerControllers(rt *runtime.Runtime, agent *formation.Agent, name string, caps capability.Set, sup *supervisor.Supervisor, log *slog.Logger) error {
	for _, c := range []runtime.Controller{
		&controllers.ServiceApply{Supervisor: sup},
		&controllers.MachineStatus{Capabilities: caps},
		&controllers.KernelModules{Capabilities: caps},
		&controllers.SysctlSpecs{NodeName: name},
		&controllers.Sysctls{Capabilities: caps, Logger: log.With("controller", "sysctls")},
		&controllers.Hostname{NodeName: name, Capabilities: caps, Logger: log.With("controller", "hostname")},
		&controllers.NetworkSpec{NodeName: name},
		&controllers.NetworkApply{Apply: caps.Has(capability.KernelNetwork), Logger: log.With("controller", "network-apply")},
		&controllers.NetworkObserve{},
		&controllers.ConfigStatus{Report: agent.SetConfigRevision},
	} {
		if err := rt.Register(c); err != nil {
			return fmt.Errorf("register controller %s: %w", c.Name(), err)
		}
	}
	return nil
}

// registerBoot adds the controllers fed by the boot before Run: the
// kernel modules wanted (the image's and the config's) and, as PID 1, the
// boot report and the services the boot asked for.
func registerBoot(rt *runtime.Runtime, name string, o Options) error {
	cs := []runtime.Controller{&controllers.KernelModuleSpecs{NodeName: name, Image: o.ImageModules}}
	if o.Boot != nil {
		cs = append(cs, &controllers.BootStatus{Report: *o.Boot})
	}
	cs = append(cs, &controllers.ServiceSpecs{Boot: o.Services})
	for _, c := range cs {
		if err := rt.Register(c); err != nil {
			return fmt.Errorf("register controller %s: %w", c.Name(), err)
		}
	}
	return nil
}

// listenAddr is the API's listen address: the advertised one, or with
// all, every address at its port.
func listenAddr(advertised string, all bool) string {
	if !all {
		return advertised
	}
	if _, port, err := net.SplitHostPort(advertised); err == nil {
		return net.JoinHostPort("", port)
	}
	return advertised
}

// peerGossipAddrs lists the gossip addresses of every other node of the
// cluster config, for the agent's reconnects.
func peerGossipAddrs(cfg *config.Config, self string) []string {
	var out []string
	for _, n := range cfg.Nodes {
		if ep := n.GossipEndpoint(); n.Name != self && ep != "" {
			out = append(out, ep)
		}
	}
	return out
}

// configuredNodes reads the node names of the stored cluster config from
// the leader's replica, for the autopilot.
func configuredNodes(ctx context.Context, s *consensus.Store) (map[string]bool, bool) {
	st, err := cfgstore.Get(ctx, s, consensus.Stale)
	if err != nil {
		return nil, false
	}
	names := make(map[string]bool, len(st.Config.Nodes))
	for _, n := range st.Config.Nodes {
		names[n.Name] = true
	}
	return names, true
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
