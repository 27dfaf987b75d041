package etcdmembers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/etcdboot"
)

// The resource that holds the record.
const (
	ResourceType = "EtcdMembership"
	ResourceID   = "etcd"
)

// Change operations.
const (
	OpAddLearner = "add-learner"
	OpPromote    = "promote"
	OpRemove     = "remove"
)

// Record is etcd's membership as the Raft leader last observed or changed
// it, for one EtcdBootstrap generation. A node with an empty etcd data
// directory and an entry here with its (Name, StateID) and a non-zero ID
// starts etcd with initial-cluster-state=existing and Members as its
// initial cluster.
type Record struct {
	// Generation is the EtcdBootstrap generation the record describes; a
	// record of an older generation describes a cluster that was replaced.
	Generation uint64 `json:"generation"`
	// ClusterID is etcd's cluster ID once observed (0 before).
	ClusterID uint64 `json:"clusterID,omitempty"`
	// Members is etcd's member set, learners included: exactly the list
	// etcd expects as --initial-cluster from a member joining it.
	Members []Member `json:"members"`
	// Pending is the one membership change in flight, recorded before it is
	// sent to etcd; nil when none.
	Pending *Change `json:"pending,omitempty"`
	// StartTimeouts maps a node name to when its learner was last removed
	// for not starting: nodes that never timed out are added first, so one
	// node that never starts etcd does not keep every other one waiting.
	StartTimeouts map[string]time.Time `json:"startTimeouts,omitempty"`
	// Version is the resource's version in the store (not stored in the spec).
	Version uint64 `json:"-"`
}

// Member is one etcd member.
type Member struct {
	// Name is the node's name, which is also its etcd member name. A learner
	// that has not started has no name in etcd: the record carries it.
	Name string `json:"name"`
	// StateID is the node's state-directory ID when it was made a member;
	// the same node after a reset has another and is a new member.
	StateID string `json:"stateID,omitempty"`
	// ID is etcd's member ID; 0 for the bootstrap member until etcd has
	// been observed.
	ID        uint64 `json:"id,omitempty"`
	PeerURL   string `json:"peerURL"`
	ClientURL string `json:"clientURL,omitempty"`
	Learner   bool   `json:"learner,omitempty"`
	// Settings is the etcd settings (config.EtcdSettingsHash of
	// cluster.etcd.extraArgs) the leader lets this member run: a change
	// of the section is granted to one member at a time, the next only
	// once the previous runs it and is healthy.
	Settings string `json:"settings,omitempty"`
	// AddedAt is the leader's clock when it added the member as a learner
	// (zero for the bootstrap member): a learner still not started
	// LearnerStartTimeout after it is removed. The FSM never reads it.
	AddedAt time.Time `json:"addedAt,omitzero"`
}

// Change is a membership change the leader decided and recorded before
// sending it to etcd.
type Change struct {
	// Op is OpAddLearner, OpPromote or OpRemove.
	Op      string `json:"op"`
	Name    string `json:"name"`
	StateID string `json:"stateID,omitempty"`
	// ID is the etcd member ID promoted or removed (0 for an add).
	ID      uint64 `json:"id,omitempty"`
	PeerURL string `json:"peerURL,omitempty"`
	// ClientURL is the added node's client URL, kept for its entry.
	ClientURL string `json:"clientURL,omitempty"`
	// Settings are the etcd settings an added member starts with.
	Settings string `json:"settings,omitempty"`
	// Reason says why the leader decided the change (for operators).
	Reason string `json:"reason,omitempty"`
	// StartTimeout marks the removal of a learner that never started.
	StartTimeout bool `json:"startTimeout,omitempty"`
	// RequestID is the request ID of the write that recorded the intent.
	RequestID string `json:"requestID"`
	// Started is the leader's clock when it recorded the intent.
	Started time.Time `json:"started"`
}

// HasMember reports whether the record lists the node name in the state
// stateID with an etcd member ID, which lets that node join as existing.
func (r Record) HasMember(name, stateID string) bool {
	return slices.ContainsFunc(r.Members, func(m Member) bool {
		return m.Name == name && m.StateID == stateID && m.ID != 0
	})
}

// InitialCluster is etcd's --initial-cluster for a member joining the
// cluster: every member as name=peerURL, sorted by name.
func (r Record) InitialCluster() []Member {
	out := slices.Clone(r.Members)
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Store is the subset of consensus.Store the coordinator uses (the same as
// etcdboot's, so the leader passes one value to both).
type Store = etcdboot.Store

// Get reads the record with a linearizable read. It fails with ErrNoRecord
// when none exists.
func Get(ctx context.Context, s Store) (Record, error) {
	r, _, err := s.Get(ctx, ResourceType, ResourceID, consensus.Linearizable)
	if errors.Is(err, consensus.ErrNotFound) {
		return Record{}, ErrNoRecord
	}
	if err != nil {
		return Record{}, fmt.Errorf("read etcd membership: %w", err)
	}
	return Decode(r)
}

// Decode turns a stored record resource (from a read or a Watch event) into
// a Record.
func Decode(r consensus.Resource) (Record, error) {
	rec, err := Parse(r.Spec)
	if err != nil {
		return Record{}, fmt.Errorf("stored etcd membership at revision %d: %w", r.UpdateRevision, err)
	}
	rec.Version = r.Version
	return rec, nil
}

// Parse decodes a record's stored spec (JSON); Version is left zero.
func Parse(spec []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(spec, &rec); err != nil {
		return Record{}, fmt.Errorf("etcd membership record does not decode: %w", err)
	}
	return rec, nil
}

// create stores rec only if no record exists.
func create(ctx context.Context, s Store, rec Record) (Record, error) {
	spec, err := json.Marshal(rec)
	if err != nil {
		return Record{}, err
	}
	id := consensus.NewRequestID()
	w, err := retryUnknown(func() (consensus.WriteResult, error) {
		return s.Create(ctx, ResourceType, ResourceID, spec, consensus.WithRequestID(id))
	})
	if err != nil {
		return Record{}, fmt.Errorf("create etcd membership: %w", err)
	}
	rec.Version = w.Resource.Version
	return rec, nil
}

// update replaces the record if it is still at rec.Version (the version it
// was read at) and returns it at its new version.
func update(ctx context.Context, s Store, rec Record, requestID string) (Record, error) {
	spec, err := json.Marshal(rec)
	if err != nil {
		return Record{}, err
	}
	if requestID == "" {
		requestID = consensus.NewRequestID()
	}
	w, err := retryUnknown(func() (consensus.WriteResult, error) {
		return s.Update(ctx, ResourceType, ResourceID, spec, rec.Version, consensus.WithRequestID(requestID))
	})
	if err != nil {
		return Record{}, fmt.Errorf("update etcd membership at version %d: %w", rec.Version, err)
	}
	rec.Version = w.Resource.Version
	return rec, nil
}

// retryUnknown sends a write once more, with the same command and request
// ID, when the first attempt's outcome is unknown: the store applies it at
// most once (consensus DESIGN.md, "At most once per request ID"), as
// etcdboot does. A retry that fails too is left to the next pass, which
// re-reads the record.
func retryUnknown(write func() (consensus.WriteResult, error)) (consensus.WriteResult, error) {
	w, err := write()
	if errors.Is(err, consensus.ErrOutcomeUnknown) {
		return write()
	}
	return w, err
}
