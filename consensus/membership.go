package consensus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Suffrage is a server's voting status.
type Suffrage string

// Suffrage values, as raft names them.
const (
	Voter    Suffrage = "Voter"
	Nonvoter Suffrage = "Nonvoter"
)

// Server is one member of the Raft configuration.
type Server struct {
	ID       string   `json:"id"`
	Address  string   `json:"address"`
	Suffrage Suffrage `json:"suffrage"`
}

// ServerStatus is a Server as this node sees it.
type ServerStatus struct {
	Server
	Leader bool `json:"leader"`
	// Healthy is the leader's view: heartbeats reach this server. Always
	// true for the leader itself; on followers, it is only known for the
	// leader (true while this node hears from it).
	Healthy bool `json:"healthy"`
	// HealthKnown is false when this node cannot tell (a follower, about
	// another follower); Healthy is then false too.
	HealthKnown bool `json:"healthKnown"`
	// LastContact is when this node last heard from the server, when known:
	// on the leader, for failing followers; on a follower, for the leader.
	LastContact time.Time `json:"lastContact,omitzero"`
}

// Status is this node's view of the Raft group.
type Status struct {
	NodeID       string         `json:"nodeId"`
	Address      string         `json:"address"`
	State        string         `json:"state"` // Leader, Follower, Candidate, Shutdown
	LeaderID     string         `json:"leaderId"`
	LeaderAddr   string         `json:"leaderAddr"`
	Term         uint64         `json:"term"`
	CommitIndex  uint64         `json:"commitIndex"`
	AppliedIndex uint64         `json:"appliedIndex"`
	LastIndex    uint64         `json:"lastIndex"`
	Revision     uint64         `json:"revision"`
	Servers      []ServerStatus `json:"servers"`
}

// HasState reports whether this node has Raft state (a log, a snapshot or a
// term). Such a node is part of a cluster already and never bootstraps.
func (s *Store) HasState() (bool, error) {
	return raft.HasExistingState(s.logs, s.bolt, s.snaps)
}

// Bootstrap makes the given servers the initial configuration. Every
// control-plane node may call it with the same list: they all write the same
// first entry, so the race is harmless. It fails with ErrHasState on a node
// that has any Raft state, so a cluster is never bootstrapped twice.
func (s *Store) Bootstrap(servers []Server) error {
	if err := s.alive(); err != nil {
		return err
	}
	if len(servers) == 0 {
		return fmt.Errorf("%w: bootstrap needs at least one server", ErrInvalid)
	}
	cfg := raft.Configuration{}
	for _, sv := range servers {
		suffrage := raft.Voter
		if sv.Suffrage == Nonvoter {
			suffrage = raft.Nonvoter
		}
		cfg.Servers = append(cfg.Servers, raft.Server{Suffrage: suffrage, ID: raft.ServerID(sv.ID), Address: raft.ServerAddress(sv.Address)})
	}
	if err := checkServers(servers); err != nil {
		return err
	}
	if has, err := s.HasState(); err != nil {
		return fmt.Errorf("check raft state: %w", err)
	} else if has {
		return ErrHasState
	}
	err := s.raft.BootstrapCluster(cfg).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return ErrHasState
	}
	return err
}

// AddNonvoter adds a server that replicates the log but does not vote. New
// servers join this way and are promoted once caught up and healthy.
// Re-adding a server with a new address replaces its entry.
func (s *Store) AddNonvoter(ctx context.Context, id, addr string) error {
	f := s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, s.timeoutFor(ctx))
	return s.mapRaftErr(f.Error())
}

// Promote makes a server in the configuration a voter.
func (s *Store) Promote(ctx context.Context, id string) error {
	cfg, err := s.configuration()
	if err != nil {
		return err
	}
	for _, sv := range cfg.Servers {
		if sv.ID == raft.ServerID(id) {
			f := s.raft.AddVoter(sv.ID, sv.Address, 0, s.timeoutFor(ctx))
			return s.mapRaftErr(f.Error())
		}
	}
	return fmt.Errorf("promote %s: %w", id, ErrNotFound)
}

// AddVoter adds a voter directly, for tools and tests; joining nodes should
// go through AddNonvoter and Promote.
func (s *Store) AddVoter(ctx context.Context, id, addr string) error {
	f := s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, s.timeoutFor(ctx))
	return s.mapRaftErr(f.Error())
}

// RemoveServer removes a server from the configuration. The caller (the
// autopilot loop) is responsible for not removing past quorum safety.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	f := s.raft.RemoveServer(raft.ServerID(id), 0, s.timeoutFor(ctx))
	return s.mapRaftErr(f.Error())
}

// TransferLeadership hands leadership to the server id, or to the most
// up-to-date voter when id is empty.
func (s *Store) TransferLeadership(ctx context.Context, id string) error {
	if id == "" {
		return s.mapRaftErr(s.raft.LeadershipTransfer().Error())
	}
	cfg, err := s.configuration()
	if err != nil {
		return err
	}
	for _, sv := range cfg.Servers {
		if sv.ID == raft.ServerID(id) {
			return s.mapRaftErr(s.raft.LeadershipTransferToServer(sv.ID, sv.Address).Error())
		}
	}
	return fmt.Errorf("transfer leadership to %s: %w", id, ErrNotFound)
}

// Servers returns the current Raft configuration (the latest, possibly not
// yet committed, as raft reports it).
func (s *Store) Servers() ([]Server, error) {
	cfg, err := s.configuration()
	if err != nil {
		return nil, err
	}
	out := make([]Server, 0, len(cfg.Servers))
	for _, sv := range cfg.Servers {
		out = append(out, Server{ID: string(sv.ID), Address: string(sv.Address), Suffrage: Suffrage(sv.Suffrage.String())})
	}
	return out, nil
}

func (s *Store) configuration() (raft.Configuration, error) {
	if err := s.alive(); err != nil {
		return raft.Configuration{}, err
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return raft.Configuration{}, s.mapRaftErr(err)
	}
	return f.Configuration(), nil
}

// Status returns this node's view of the Raft group.
func (s *Store) Status() (Status, error) {
	servers, err := s.Servers()
	if err != nil {
		return Status{}, err
	}
	leaderAddr, leaderID := s.raft.LeaderWithID()
	applied, rev, _ := s.fsm.progress()
	st := Status{
		NodeID: s.cfg.NodeID, Address: s.Addr(), State: s.raft.State().String(),
		LeaderID: string(leaderID), LeaderAddr: string(leaderAddr),
		Term: s.raft.CurrentTerm(), CommitIndex: s.raft.CommitIndex(),
		AppliedIndex: applied, LastIndex: s.raft.LastIndex(), Revision: rev,
	}
	isLeader := s.raft.State() == raft.Leader
	for _, sv := range servers {
		ss := ServerStatus{Server: sv, Leader: sv.ID == string(leaderID)}
		ss.HealthKnown = true
		switch {
		case sv.ID == s.cfg.NodeID:
			ss.Healthy = true
		case isLeader:
			t, failing := s.peers.lastFailure(raft.ServerID(sv.ID))
			ss.Healthy, ss.LastContact = !failing, t
		case ss.Leader:
			ss.LastContact = s.raft.LastContact()
			ss.Healthy = time.Since(ss.LastContact) < 2*s.cfg.Timing.HeartbeatTimeout
		default:
			ss.HealthKnown = false
		}
		st.Servers = append(st.Servers, ss)
	}
	return st, nil
}

// checkServers rejects a bootstrap list raft would refuse, with a clearer error.
func checkServers(servers []Server) error {
	ids, addrs, voters := map[string]bool{}, map[string]bool{}, 0
	for _, sv := range servers {
		switch {
		case sv.ID == "" || sv.Address == "":
			return fmt.Errorf("%w: bootstrap server %+v needs an id and an address", ErrInvalid, sv)
		case ids[sv.ID]:
			return fmt.Errorf("%w: bootstrap server id %q appears twice", ErrInvalid, sv.ID)
		case addrs[sv.Address]:
			return fmt.Errorf("%w: bootstrap server address %q appears twice", ErrInvalid, sv.Address)
		}
		ids[sv.ID], addrs[sv.Address] = true, true
		if sv.Suffrage != Nonvoter {
			voters++
		}
	}
	if voters == 0 {
		return fmt.Errorf("%w: bootstrap needs at least one voter", ErrInvalid)
	}
	return nil
}

// Snapshot takes a snapshot now and truncates the log behind it (keeping
// Config.TrailingLogs entries). Snapshots also happen on their own every
// Config.SnapshotThreshold entries.
func (s *Store) Snapshot() error {
	if err := s.alive(); err != nil {
		return err
	}
	return s.mapRaftErr(s.raft.Snapshot().Error())
}

// Leader returns the current leader's ID and Raft address as this node
// knows them (empty when no leader is known). It does not contact anyone.
func (s *Store) Leader() (id, addr string) {
	a, i := s.raft.LeaderWithID()
	return string(i), string(a)
}
