package controllers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/etcd"
	"github.com/cairn-project/cairn/node/runtime"
)

// EtcdSpec turns (the received config, the cluster's etcd decisions, this
// node's identity) into the etcd service this control plane runs, and says
// in EtcdPhase why it runs it that way or not at all:
//
//   - no bootstrap record yet: wait (EtcdPhaseWaitingDecision);
//   - data that is not this node's member of this cluster (another
//     cluster's, another generation's, another node state's, or with no
//     marker): refused, never started and never wiped — `cairnctl reset` is
//     the way out;
//   - its own data: start it (etcd ignores the initial-cluster flags);
//   - no data, the bootstrap record names this node in this state, and the
//     leader has not yet seen that cluster running: start a new cluster,
//     the only way one is ever created;
//   - no data, and the membership record lists this node in this state as
//     added by the leader: join the existing cluster with the member list
//     the leader recorded;
//   - otherwise wait to be added.
//
// Before a start it writes the certificates (WriteCerts) and, into an empty
// data directory, the marker that makes the data recognisably this member's.
type EtcdSpec struct {
	NodeName string
	StateID  string
	Layout   etcd.Layout
	// Binary is etcd's path; empty when this node has none (the service
	// is then reported unavailable).
	Binary string
	// EtcdCA is the etcd CA from this control plane's bootstrap secrets,
	// which issues its peer, server and client certificates.
	EtcdCA config.CertKeyPair
	// ClientPort and PeerPort are 2379 and 2380 when zero.
	ClientPort, PeerPort int
	Now                  func() time.Time
	// Reaper, when set, is PID 1's orphan reaper: a recovery's restore
	// runs through it.
	Reaper etcd.Reaper
}

// Name implements runtime.Controller.
func (c *EtcdSpec) Name() string { return "etcd-spec" }

// Inputs implements runtime.Controller.
func (c *EtcdSpec) Inputs() []runtime.Input {
	// The clock wakes it daily, so certificates are renewed in time even
	// when nothing else changes.
	return []runtime.Input{{Type: TypeClusterConfig, ID: IDCluster}, {Type: TypeEtcdCluster, ID: IDEtcd}, {Type: TypeClock, ID: IDDay}}
}

// Outputs implements runtime.Controller.
func (c *EtcdSpec) Outputs() []string { return []string{TypeEtcdService, TypeEtcdPhase} }

// Run implements runtime.Controller.
func (c *EtcdSpec) Run(ctx context.Context, r runtime.Reader, w runtime.Writer) error {
	recv, n, received, err := nodeEntry(r, c.NodeName)
	if err != nil || !received || n == nil || n.Role != config.RoleControlPlane {
		return err // a worker's (or a removed node's) outputs are cleaned up
	}
	m := etcd.Member{Name: c.NodeName, Layout: c.Layout, IP: etcdIP(n), ClientPort: c.ClientPort, PeerPort: c.PeerPort}
	phase := func(p, reason string, gen uint64) error {
		return w.Put(TypeEtcdPhase, IDEtcd, EtcdPhaseSpec{Phase: p, Reason: reason, Generation: gen, Revision: recv.Revision, ClientURL: m.ClientURL(), PeerURL: m.PeerURL()}, nil)
	}
	if c.Binary == "" {
		return phase(EtcdPhaseUnavailable, "this node has no etcd binary (cairnd --etcd)", 0)
	}
	if _, err := os.Stat(c.Binary); err != nil {
		return phase(EtcdPhaseUnavailable, fmt.Sprintf("etcd binary: %v", err), 0)
	}
	// The certificates come first, whatever the phase: cairnd's client
	// certificate is also what this node's membership coordinator dials
	// the other members with when it leads Raft, and a leader that is not
	// an etcd member yet (waiting to be added, or refusing foreign data)
	// must still be able to add the others, and itself.
	if _, err := etcd.WriteCerts(c.Layout, c.EtcdCA, n, c.now()); err != nil {
		return err
	}
	cl, _, err := getSpec[EtcdClusterSpec](r, TypeEtcdCluster, IDEtcd) // none yet: not decided
	if err != nil {
		return err
	}
	if !cl.Decided {
		return phase(EtcdPhaseWaitingDecision, "waiting for the Raft leader to decide how etcd starts", 0)
	}
	want := etcd.NewMarker(cl.Generation, cl.TokenHash, c.NodeName, c.StateID)
	desired := recv.Config.Cluster.Etcd.ExtraArgs
	want.ExtraArgs, want.Settings = desired, config.EtcdSettingsHash(desired)
	data, err := etcd.Inspect(c.Layout, want)
	if err != nil {
		return err
	}
	m.Token = cl.Token
	if data.Kind == etcd.DataForeign && earlierGeneration(cl, data.Marker, c.NodeName, c.StateID) {
		// This member's data from before a recovery: the cluster it
		// belonged to was replaced. Kept beside, not deleted.
		if err := etcd.SetAside(c.Layout, c.now()); err != nil {
			return err
		}
		data = etcd.DataState{Kind: etcd.DataEmpty}
	}
	if data.Kind == etcd.DataOurs && removedFrom(cl, c.NodeName, c.StateID) {
		// The leader removed this member (dead past the grace, or an
		// operator's leave): etcd refuses to start a removed member's data,
		// so it is moved aside, kept, and the node joins again as a new
		// member once the leader adds it.
		if err := etcd.SetAside(c.Layout, c.now()); err != nil {
			return err
		}
		data = etcd.DataState{Kind: etcd.DataEmpty}
	}
	var p, reason, pending string
	switch {
	case data.Kind == etcd.DataForeign:
		// Never started, never wiped: the operator decides (reset).
		return phase(EtcdPhaseRefused, data.Reason+"; etcd is not started and the data is left untouched (cairnctl reset wipes it)", cl.Generation)
	case data.Kind == etcd.DataOurs:
		p, reason = EtcdPhaseMember, "running this node's member from its data"
		m.State, m.InitialCluster = data.Marker.State, data.Marker.InitialCluster
		if data.Marker.Settings != want.Settings && !granted(cl, c.NodeName, c.StateID, want.Settings) {
			// A change of cluster.etcd waits for the Raft leader's turn:
			// one member restarts at a time.
			want.ExtraArgs, want.Settings, pending = data.Marker.ExtraArgs, data.Marker.Settings, want.Settings
		}
		if data.Marker.Settings != want.Settings {
			mk := *data.Marker
			mk.ExtraArgs, mk.Settings = want.ExtraArgs, want.Settings
			if err := etcd.WriteMarker(c.Layout, mk); err != nil {
				return err
			}
		}
	case isInitial(cl, c.NodeName, c.StateID) && !formed(cl) && cl.RestoreNode == c.NodeName:
		// A recovery: the new cluster starts from the snapshot.
		if err := etcd.Restore(ctx, c.Binary, m, want, cl.RestoreSHA256, c.Reaper); err != nil {
			return errors.Join(phase(EtcdPhaseRefused, fmt.Sprintf("recovery (generation %d) from snapshot %.12s…: %v", cl.Generation, cl.RestoreSHA256, err), cl.Generation), err)
		}
		data = etcd.DataState{Kind: etcd.DataOurs}
		p, reason = EtcdPhaseBootstrapping, fmt.Sprintf("recovering: generation %d restored from snapshot %.12s…", cl.Generation, cl.RestoreSHA256)
		m.State, m.InitialCluster = etcd.StateNew, []etcd.Peer{{Name: m.Name, PeerURL: m.PeerURL()}}
	case isInitial(cl, c.NodeName, c.StateID) && !formed(cl):
		p, reason = EtcdPhaseBootstrapping, fmt.Sprintf("named by the bootstrap record (generation %d): starting a new etcd cluster", cl.Generation)
		m.State = etcd.StateNew
		for _, im := range cl.InitialMembers {
			m.InitialCluster = append(m.InitialCluster, etcd.Peer{Name: im.Name, PeerURL: im.PeerURL})
		}
	default:
		peers, self, added := addedAs(cl, c.NodeName, c.StateID)
		if !added {
			return phase(EtcdPhaseWaitingAdd, "waiting for the Raft leader to add this node to etcd as a learner", cl.Generation)
		}
		if !self.Learner {
			// Only a learner that never ran starts without data. A voter
			// that lost its data must not rejoin under its old ID: it
			// would vote without the log it acknowledged (the Raft rule
			// that a voter never forgets).
			return phase(EtcdPhaseRefused, fmt.Sprintf("this node's etcd member %x is a voter, but its data is gone; remove that member (cairnctl etcd remove-member %x) and the Raft leader adds this node again as a learner", self.ID, self.ID), cl.Generation)
		}
		p, reason = EtcdPhaseJoining, "added by the Raft leader: joining the existing etcd cluster"
		m.State, m.InitialCluster = etcd.StateExisting, peers
	}
	if data.Kind == etcd.DataEmpty {
		want.State, want.InitialCluster = m.State, m.InitialCluster
		if err := etcd.WriteMarker(c.Layout, want); err != nil {
			return err
		}
	}
	m.ExtraArgs = want.ExtraArgs
	args, err := m.Args()
	if err != nil {
		return phase(EtcdPhaseRefused, err.Error(), cl.Generation)
	}
	svc := ServiceSpecSpec{
		Path: c.Binary, Args: args, Restart: "always",
		// The settings travel with the process, so the observer can tell
		// which ones the member that answers runs with.
		Env: []string{EtcdSettingsEnv + "=" + want.Settings},
		// etcd needs a few seconds to stop cleanly; a member killed
		// mid-write recovers from its WAL, but a clean stop is faster.
		StopTimeout: 15 * time.Second,
		Health:      &ServiceHealthSpec{TCP: net.JoinHostPort(m.IP, portString(m.ClientURL())), Interval: 5 * time.Second, StartPeriod: 30 * time.Second},
	}
	if pending != "" {
		reason += fmt.Sprintf("; cluster.etcd changed (settings %s): waiting for the Raft leader's turn to restart with them", pending)
	}
	return errors.Join(w.Put(TypeEtcdService, IDEtcd, svc, nil),
		w.Put(TypeEtcdPhase, IDEtcd, EtcdPhaseSpec{Phase: p, Reason: reason, Generation: cl.Generation, Revision: recv.Revision, ClientURL: m.ClientURL(), PeerURL: m.PeerURL(),
			Settings: want.Settings, Pending: pending}, nil))
}

// EtcdSettingsEnv carries a member's etcd settings in its environment.
const EtcdSettingsEnv = "CAIRN_ETCD_SETTINGS"

// granted reports whether the leader granted this node's member the
// settings (the membership record of this generation names them).
func granted(cl EtcdClusterSpec, name, stateID, settings string) bool {
	return cl.MembershipGeneration == cl.Generation && slices.ContainsFunc(cl.Members, func(m EtcdMember) bool {
		return m.Name == name && m.StateID == stateID && m.Settings == settings
	})
}

func (c *EtcdSpec) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// removedFrom reports whether the membership record of this generation,
// once the cluster has formed (its ID is known), no longer lists this
// node's state: the leader removed its member.
func removedFrom(cl EtcdClusterSpec, name, stateID string) bool {
	if cl.MembershipGeneration != cl.Generation || cl.ClusterID == 0 {
		return false
	}
	return !slices.ContainsFunc(cl.Members, func(m EtcdMember) bool { return m.Name == name && m.StateID == stateID })
}

// earlierGeneration reports whether a marker is this node's own, from an
// earlier generation of this cluster (its token's hash is one the record
// keeps).
func earlierGeneration(cl EtcdClusterSpec, mk *etcd.Marker, name, stateID string) bool {
	return mk != nil && mk.Generation < cl.Generation && mk.Name == name && mk.StateID == stateID &&
		slices.Contains(cl.PreviousTokenHashes, mk.TokenHash)
}

// formed reports whether the leader has seen the cluster of this
// generation running (it recorded its etcd cluster ID): from then on no
// member starts a new cluster, not even the one the bootstrap record
// names, should it lose its data.
func formed(cl EtcdClusterSpec) bool {
	return cl.MembershipGeneration == cl.Generation && cl.ClusterID != 0
}

// isInitial reports whether the bootstrap record names this node's state.
func isInitial(cl EtcdClusterSpec, name, stateID string) bool {
	return slices.ContainsFunc(cl.InitialMembers, func(p EtcdPeer) bool {
		return p.Name == name && (p.StateID == "" || p.StateID == stateID)
	})
}

// addedAs returns the initial cluster a joining member must start with
// (every member of the record, as etcd requires the exact current set)
// and this node's entry, when the record of this generation lists this
// node's state as added.
func addedAs(cl EtcdClusterSpec, name, stateID string) ([]etcd.Peer, EtcdMember, bool) {
	if cl.MembershipGeneration != cl.Generation {
		return nil, EtcdMember{}, false
	}
	var self EtcdMember
	found := false
	var peers []etcd.Peer
	for _, m := range cl.Members {
		if m.Name == name && m.StateID == stateID && m.ID != 0 {
			self, found = m, true
		}
		peers = append(peers, etcd.Peer{Name: m.Name, PeerURL: m.PeerURL})
	}
	return peers, self, found
}

// etcdIP is the address etcd listens and advertises on: the host of the
// node's Raft endpoint, its cluster-facing address.
func etcdIP(n *config.Node) string {
	host, _, err := net.SplitHostPort(n.RaftEndpoint())
	if err != nil {
		return ""
	}
	return host
}

func portString(u string) string {
	_, port, err := net.SplitHostPort(u[len("https://"):])
	if err != nil {
		return ""
	}
	return port
}
