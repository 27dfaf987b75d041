package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/gossip"
	"github.com/cairn-project/cairn/node/api"
	"github.com/cairn-project/cairn/node/cluster/cfgstore"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/cluster/etcdboot"
	"github.com/cairn-project/cairn/node/cluster/etcdmembers"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/controllers"
	"github.com/cairn-project/cairn/node/machine/etcd"
	"github.com/cairn-project/cairn/node/machine/supervisor"
	"github.com/cairn-project/cairn/node/runtime"
)

// etcdMirror keeps EtcdCluster/etcd equal to the two etcd records in this
// control plane's replica — the bootstrap decision and the membership the
// leader recorded — so the machine-plane controllers read cluster decisions
// as a local resource and never reach into Raft. Stale reads are right
// here: a replica that lags only delays a start, and every start it allows
// was decided by a committed write.
type etcdMirror struct {
	store *consensus.Store
}

func (m *etcdMirror) Name() string      { return "etcd-mirror" }
func (m *etcdMirror) Outputs() []string { return []string{controllers.TypeEtcdCluster} }

func (m *etcdMirror) Run(ctx context.Context, w runtime.Writer) error {
	from := m.store.Revision() + 1
	watch, err := m.store.Watch(ctx, "", from)
	if err != nil {
		return fmt.Errorf("watch the etcd records: %w", err)
	}
	if err := m.publish(ctx, w); err != nil {
		return err
	}
	for ev := range watch.Events() {
		if t := ev.Resource.Type; t != etcdboot.ResourceType && t != etcdmembers.ResourceType {
			continue
		}
		if err := m.publish(ctx, w); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("etcd records watch ended: %w", watch.Err())
}

// publish reads both records from the replica and writes the mirror.
func (m *etcdMirror) publish(ctx context.Context, w runtime.Writer) error {
	var spec controllers.EtcdClusterSpec
	res, _, err := m.store.Get(ctx, etcdboot.ResourceType, etcdboot.ResourceID, consensus.Stale)
	switch {
	case errors.Is(err, consensus.ErrNotFound):
		return w.Put(controllers.TypeEtcdCluster, controllers.IDEtcd, spec, nil)
	case err != nil:
		return err
	}
	rec, err := etcdboot.Decode(res)
	if err != nil {
		return err
	}
	spec.Decided, spec.Generation, spec.Token, spec.TokenHash = true, rec.Generation, rec.ClusterToken, etcdboot.TokenHash(rec.ClusterToken)
	spec.PreviousTokenHashes = rec.PreviousTokenHashes
	if r := rec.RestoreFrom; r != nil {
		spec.RestoreNode, spec.RestoreSHA256 = r.Node, r.SHA256
	}
	for _, im := range rec.InitialMembers {
		spec.InitialMembers = append(spec.InitialMembers, controllers.EtcdPeer{Name: im.Name, StateID: im.StateID, PeerURL: im.PeerURL})
	}
	res, _, err = m.store.Get(ctx, etcdmembers.ResourceType, etcdmembers.ResourceID, consensus.Stale)
	switch {
	case errors.Is(err, consensus.ErrNotFound):
	case err != nil:
		return err
	default:
		mem, err := etcdmembers.Decode(res)
		if err != nil {
			return err
		}
		spec.MembershipGeneration, spec.ClusterID = mem.Generation, mem.ClusterID
		for _, x := range mem.Members {
			spec.Members = append(spec.Members, controllers.EtcdMember{Name: x.Name, StateID: x.StateID, ID: x.ID, PeerURL: x.PeerURL, Learner: x.Learner, Settings: x.Settings})
		}
	}
	return w.Put(controllers.TypeEtcdCluster, controllers.IDEtcd, spec, nil)
}

// registerEtcd adds a control plane's etcd controllers (EtcdSpec,
// EtcdStatus) and returns its etcd sources (the records' mirror, the
// member's observer). Workers, and nodes run without an etcd binary
// (Options.Etcd empty), get none.
func registerEtcd(rt *runtime.Runtime, agent *formation.Agent, sup *supervisor.Supervisor, cfg *config.Config, self *config.Node, stateID string, o Options, log *slog.Logger) ([]runtime.Source, error) {
	if self.Role != config.RoleControlPlane || o.Etcd == "" {
		return nil, nil
	}
	m := localMember(self, o)
	layout := m.Layout
	spec := &controllers.EtcdSpec{NodeName: self.Name, StateID: stateID, Layout: layout, Binary: o.Etcd, EtcdCA: cfg.Secrets.EtcdCA,
		ClientPort: m.ClientPort, PeerPort: m.PeerPort}
	if o.Reaper != nil { // a nil supervisor.Reaper must not become a non-nil etcd.Reaper
		spec.Reaper = o.Reaper
	}
	for _, c := range []runtime.Controller{spec, &controllers.EtcdStatus{}} {
		if err := rt.Register(c); err != nil {
			return nil, fmt.Errorf("register controller %s: %w", c.Name(), err)
		}
	}
	coord, err := etcdmembers.New(etcdmembers.Config{
		Store: agent.Store,
		Self:  etcdmembers.Node{Name: self.Name, StateID: stateID, PeerURL: m.PeerURL(), ClientURL: m.ClientURL()},
		View:  etcdView(agent, o.EtcdPorts),
		// cairnd's client certificate is written by EtcdSpec on this
		// node; read it at each dial, so the first one after boot and a
		// renewed one are used.
		Dial: func(endpoints []string) (etcdmembers.Cluster, error) {
			conf, err := etcd.LoadClientTLS(layout)
			if err != nil {
				return nil, err
			}
			return etcdmembers.NewClient(endpoints, conf)
		},
		// Each pass asks every member for its status: no faster than
		// twice a second, whatever the autopilot's pace.
		Interval:  max(o.Profile.Autopilot.Interval, 500*time.Millisecond),
		DeadGrace: o.Profile.Autopilot.DeadGrace,
		Logger:    log.With("component", "etcd-members"),
		Fault:     etcdFault(o.StateDir, o.EtcdFault, log),
		Settings: func(ctx context.Context) (string, bool) {
			st, err := cfgstore.Get(ctx, agent.Store, consensus.Stale)
			if err != nil {
				return "", false
			}
			return config.EtcdSettingsHash(st.Config.Cluster.Etcd.ExtraArgs), true
		},
	})
	if err != nil {
		return nil, err
	}
	agent.Store.AddLeaderFunc(coord.Run)
	return []runtime.Source{
		&controllers.DailyClock{},
		&etcdMirror{store: agent.Store},
		&controllers.EtcdObserve{Layout: layout, ClientURL: m.ClientURL(), PID: func() int {
			st, err := sup.Status("etcd")
			if err != nil {
				return 0
			}
			return st.PID
		}},
	}, nil
}

// localMember is this control plane's etcd member as far as its
// addresses and files go: its name, address, ports and directory.
func localMember(self *config.Node, o Options) etcd.Member {
	m := etcd.Member{Name: self.Name, IP: etcdHost(self), Layout: etcd.Layout{Dir: filepath.Join(o.StateDir, "etcd")}}
	if p := o.EtcdPorts; p != nil {
		m.ClientPort, m.PeerPort = p.Client, p.Peer
	}
	return m
}

// etcdHost is the address a control plane's etcd member uses: the host of
// its Raft endpoint (EtcdSpec uses the same).
func etcdHost(n *config.Node) string {
	host, _, _ := net.SplitHostPort(n.RaftEndpoint())
	return host
}

// etcdView is the coordinator's view of the control planes: those of the
// stored cluster config, each with its current state ID and liveness from
// gossip. A node gossip has never seen has no DeadSince, so it is never
// removed as dead.
func etcdView(agent *formation.Agent, ports *EtcdPorts) func(context.Context) (map[string]etcdmembers.Node, bool) {
	return func(ctx context.Context) (map[string]etcdmembers.Node, bool) {
		st, err := cfgstore.Get(ctx, agent.Store, consensus.Stale)
		if err != nil {
			return nil, false
		}
		members := map[string]gossip.Member{}
		for _, m := range agent.Gossip().Members() {
			members[m.Name] = m
		}
		out := map[string]etcdmembers.Node{}
		for _, n := range st.Config.ControlPlanes() {
			em := etcd.Member{Name: n.Name, IP: etcdHost(n)}
			if ports != nil {
				em.ClientPort, em.PeerPort = ports.Client, ports.Peer
			}
			v := etcdmembers.Node{Name: n.Name, PeerURL: em.PeerURL(), ClientURL: em.ClientURL()}
			if g, ok := members[n.Name]; ok {
				v.StateID, v.Alive, v.EtcdSettings = g.Meta.StateID, g.State == gossip.StateAlive, g.Meta.EtcdSettings
				if g.State == gossip.StateDead || g.State == gossip.StateLeft {
					v.DeadSince = g.Since
				}
			}
			out[n.Name] = v
		}
		return out, true
	}
}

// localEtcdOps is the API's access to this control plane's own etcd
// member (cairnctl etcd ...), or nil for a node that runs none. It reads
// the client certificate and dials at each call, so it works from the
// moment EtcdSpec has started the member, and after a renewal.
func localEtcdOps(self *config.Node, o Options) *etcd.Ops {
	if self.Role != config.RoleControlPlane || o.Etcd == "" {
		return nil
	}
	m := localMember(self, o)
	return etcd.NewLocalOps(m.Layout, m.ClientURL())
}

// etcdRecovery is what the API's EtcdService.Recover needs on a control
// plane that runs etcd: the Raft store, and this node as the one member of
// a recovered generation, with the layout its EtcdSpec restores from.
func etcdRecovery(store *consensus.Store, self *config.Node, stateID string, o Options, log *slog.Logger) *api.EtcdRecovery {
	m := localMember(self, o)
	return &api.EtcdRecovery{
		Store:  store,
		Self:   etcdboot.Member{Name: self.Name, PeerURL: m.PeerURL(), StateID: stateID},
		Layout: m.Layout,
		Logger: log,
	}
}
