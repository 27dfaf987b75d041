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
	"github.com/cairn-project/cairn/node/cfgstore"
	"github.com/cairn-project/cairn/node/config"
	"github.com/cairn-project/cairn/node/controllers"
	"github.com/cairn-project/cairn/node/formation"
	"github.com/cairn-project/cairn/node/nodelog"
	"github.com/cairn-project/cairn/node/runtime"
	"github.com/cairn-project/cairn/node/supervisor"
)

// Modes cairnd runs in (see shared DESIGN.md, "Binaries and modes").
const (
	ModePID1      = "pid1"
	ModeContainer = "container"
	ModeProcess   = "process"
)

// Options configures one node.
type Options struct {
	// Config is the cluster config document, the same on every node.
	Config []byte
	// Name selects this node's entry (match rules: name first).
	Name string
	// StateDir holds this node's persistent state (raft/).
	StateDir string
	Mode     string
	Profile  formation.Profile
	Logger   *slog.Logger
	// Log, when set, is the log Logger writes to (cairnd's own): the API
	// serves it as the service "cairnd" and changes its level.
	Log *nodelog.Log
	// Ready, when set, is closed once the API is serving.
	Ready chan<- struct{}
	// Fault, when set, arms a consensus fault point on a control plane
	// once its store is open: integration tests only (consensus.FaultEnv).
	Fault *consensus.Fault
}

// Run runs the node until ctx ends. It fails fast, before touching any
// state, when the config is invalid or names no entry for this node.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := config.Load(o.Config)
	if err != nil {
		return fmt.Errorf("load cluster config: %w", err)
	}
	self, err := cfg.NodeFor(o.Name, localMACs(), hostname())
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
	ln, err := net.Listen("tcp", self.APIEndpoint())
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
		Version: version.Version, BootSlot: bootSlot, Profile: o.Profile, Logger: log,
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
	if agent.Store != nil {
		agent.Store.AddLeaderFunc(func(ctx context.Context) { seedConfig(ctx, log, agent, cfg) })
		if o.Fault != nil {
			agent.Store.InjectFault(*o.Fault)
		}
	}
	state := runtime.NewState()
	rt := runtime.New(state, runtime.Options{Logger: log})
	if err := registerControllers(rt, agent, self.Name, o.Mode != ModeProcess, log); err != nil {
		_ = ln.Close()
		return errors.Join(err, agent.Close())
	}
	// The supervisor runs the node's processes (etcd and kubelet, as later
	// controllers add them); its services are served over the API already.
	sup := supervisor.New(supervisor.Options{Logger: log, LogDir: filepath.Join(o.StateDir, "logs")})
	apiOpts := api.Options{
		NodeName: self.Name, Mode: o.Mode, Slot: bootSlot, Agent: agent, Resources: state, Services: sup,
		Identity: id, JoinToken: cfg.Secrets.JoinToken, Keyring: keyring, Logger: log,
		// Long enough for an election and a paused leader's replacement.
		LeaderHold: 10 * o.Profile.Raft.ElectionTimeout,
	}
	if self.Role == config.RoleControlPlane {
		apiOpts.CA = &cfg.Secrets.CA
	}
	if o.Log != nil { // a nil *nodelog.Log must not become a non-nil api.NodeLog
		apiOpts.NodeLog = o.Log
	}
	srv := api.New(apiOpts)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if o.Ready != nil {
		close(o.Ready)
	}

	ctrlCtx, stopControllers := context.WithCancel(ctx)
	removed := make(chan uint64, 1)
	source := &configSource{
		log: log, state: state, apiAddr: self.APIEndpoint(), tls: id.ClientTLS(), self: self.Name,
		removed: func(rev uint64) {
			select {
			case removed <- rev:
			default:
			}
		},
	}
	var background sync.WaitGroup
	// run starts one of the node's loops; errors other than the stop itself
	// are logged, since the node keeps serving without them.
	run := func(what string, fn func(context.Context) error) {
		background.Go(func() {
			if err := fn(ctrlCtx); err != nil && ctrlCtx.Err() == nil {
				log.Error("background loop stopped", "loop", what, "error", err)
				agent.Degrade(what)
			}
		})
	}
	run("config source", func(ctx context.Context) error { source.run(ctx); return nil })
	run("controller runtime", rt.Run)
	run("supervisor", sup.Run)
	run("kernel notifications", func(ctx context.Context) error { return controllers.WatchKernel(ctx, state) })
	run("gossip status", func(ctx context.Context) error { publishGossipStatus(ctx, state, agent, time.Second); return nil })
	run("certificate renewal", func(ctx context.Context) error { is.renew(ctx, id, time.Hour); return nil })

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("node API stopped: %w", err)
	case rev := <-removed:
		err = leaveCluster(ctx, log, o.StateDir, agent, rev)
	case <-storeStopped(agent):
		// Fail-stop (etcd's rule): a replica that cannot write or apply
		// its log must not keep serving; the boot stage restarts the node.
		err = storageFault(agent)
	}
	log.Info("shutting down")
	stopControllers()
	background.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, srv.Shutdown(shutdownCtx), agent.Close())
	if errors.Is(err, ErrStorageFault) {
		// The node's last line says why it stopped (cairnd exits 1 without
		// repeating it).
		log.Error("stopping on a storage fault", "error", err)
	}
	return err
}

// registerControllers adds the node's controllers to the runtime. Only in
// pid1 and container modes does the node own the kernel's network; in
// process mode it plans and reports.
func registerControllers(rt *runtime.Runtime, agent *formation.Agent, name string, ownsKernel bool, log *slog.Logger) error {
	for _, c := range []runtime.Controller{
		&controllers.NetworkSpec{NodeName: name},
		&controllers.NetworkApply{Apply: ownsKernel, Logger: log.With("controller", "network-apply")},
		&controllers.NetworkObserve{},
		&controllers.ConfigStatus{Report: agent.SetConfigRevision},
	} {
		if err := rt.Register(c); err != nil {
			return fmt.Errorf("register controller %s: %w", c.Name(), err)
		}
	}
	return nil
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

// seedConfig stores the bootstrap config once this node leads, retrying
// until it succeeds or leadership ends.
func seedConfig(ctx context.Context, log *slog.Logger, agent *formation.Agent, cfg *config.Config) {
	for {
		err := cfgstore.Seed(ctx, agent.Store, cfg)
		if err == nil {
			return
		}
		log.Warn("seed cluster config", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// localMACs lists this machine's hardware addresses for match rules.
func localMACs() []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, i := range ifs {
		if len(i.HardwareAddr) > 0 {
			out = append(out, i.HardwareAddr.String())
		}
	}
	return out
}
