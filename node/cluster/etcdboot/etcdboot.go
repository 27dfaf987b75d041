// Package etcdboot holds the EtcdBootstrap record: the one decision, made
// through Raft, of which control plane(s) start etcd with
// initial-cluster-state=new and with which cluster token. Every other member
// joins the cluster that record describes.
package etcdboot

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/cairn-project/cairn/consensus"
)

// The resource that holds the record.
const (
	ResourceType = "EtcdBootstrap"
	ResourceID   = "etcd"
)

// Member is one etcd member named in the record.
type Member struct {
	// Name is the etcd member name: the node's name.
	Name string `json:"name"`
	// PeerURL is the member's etcd peer URL (https://IP:2380).
	PeerURL string `json:"peerURL"`
	// StateID is the state ID of the node's state directory when it was
	// named (node/stateid.go). Only that state starts etcd as a new
	// cluster: the same node after a reset or with a replaced disk has
	// another state ID, and joins the existing cluster as a learner instead
	// of creating a second one.
	StateID string `json:"stateID,omitempty"`
}

// Record is one generation of the etcd bootstrap decision.
type Record struct {
	// Generation is 1 for the first bootstrap and grows by one with every
	// disaster recovery (Recover).
	Generation uint64 `json:"generation"`
	// ClusterToken is etcd's --initial-cluster-token, random per generation,
	// so members of an older generation never join a newer one by accident.
	// It is a secret: the generic resource view redacts it.
	ClusterToken string `json:"clusterToken"`
	// InitialMembers start etcd with initial-cluster-state=new; every other
	// control plane joins as a learner later.
	InitialMembers []Member `json:"initialMembers"`
	// Created is the deciding node's clock when it proposed the record;
	// informational only (the FSM never reads it).
	Created time.Time `json:"created"`
	// DecidedBy is the name of the node that wrote this generation.
	DecidedBy string `json:"decidedBy"`
	// DecisionID is the request ID of the write that stored this generation:
	// a caller whose write had an unknown outcome recognises its own record.
	DecisionID string `json:"decisionID"`
	// PreviousTokenHashes are TokenHash of every earlier generation's token,
	// oldest first: a member's data of an earlier generation is this
	// cluster's, and is set aside when the recovered cluster replaces it
	// (data of another cluster is refused instead).
	PreviousTokenHashes []string `json:"previousTokenHashes,omitempty"`
	// RestoreFrom, in a recovered generation, is the snapshot its initial
	// member restores before it starts the new cluster.
	RestoreFrom *Snapshot `json:"restoreFrom,omitempty"`
	// Version is the resource's version in the store (not stored in the spec).
	Version uint64 `json:"-"`
}

// Snapshot names the etcd snapshot a recovery restores: the node that
// holds it (the initial member) and its SHA-256, which that node checks
// before restoring.
type Snapshot struct {
	Node   string `json:"node"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// IsInitialMember reports whether the node named name, with the state
// stateID, starts etcd with initial-cluster-state=new in this generation.
// A member named without a state ID matches any state of that node.
func (r Record) IsInitialMember(name, stateID string) bool {
	for _, m := range r.InitialMembers {
		if m.Name == name && (m.StateID == "" || m.StateID == stateID) {
			return true
		}
	}
	return false
}

// Store is the subset of consensus.Store this package uses. Writes and
// linearizable reads on a follower fail with *consensus.NotLeaderError naming
// the leader, which is how only the leader decides: the API layer forwards,
// as for every cluster write.
type Store interface {
	Get(ctx context.Context, typ, id string, mode consensus.ReadMode) (consensus.Resource, uint64, error)
	Create(ctx context.Context, typ, id string, spec []byte, opts ...consensus.WriteOption) (consensus.WriteResult, error)
	Update(ctx context.Context, typ, id string, spec []byte, expectedVersion uint64, opts ...consensus.WriteOption) (consensus.WriteResult, error)
}

// Decide stores generation 1 naming self as the only initial member, unless
// a record exists: then it fails with *ExistsError carrying the stored
// record, whoever wrote it. The write is create-only, so of any number of
// concurrent or repeated calls, on any leaders, exactly one stores a record.
// A write whose outcome is unknown (leadership lost after sending) is sent
// once more with the same request ID, which the store applies at most once;
// if that fails too, the error is returned and a later call settles it (it
// either creates the record or finds the one the first write stored).
func Decide(ctx context.Context, s Store, self Member) (Record, error) {
	rec, err := proposal(1, []Member{self}, self.Name)
	if err != nil {
		return Record{}, err
	}
	spec, err := json.Marshal(rec)
	if err != nil {
		return Record{}, err
	}
	create := func() (consensus.WriteResult, error) {
		return s.Create(ctx, ResourceType, ResourceID, spec, consensus.WithRequestID(rec.DecisionID))
	}
	w, err := retryUnknown(create)
	if errors.Is(err, consensus.ErrConflict) {
		cur, gerr := Get(ctx, s)
		if gerr != nil {
			return Record{}, fmt.Errorf("read existing etcd bootstrap record: %w", gerr)
		}
		if cur.DecisionID == rec.DecisionID {
			return cur, nil // our own first attempt stored it
		}
		return cur, &ExistsError{Record: cur}
	}
	if err != nil {
		return Record{}, fmt.Errorf("decide etcd bootstrap: %w", err)
	}
	rec.Version = w.Resource.Version
	return rec, nil
}

// Get reads the record with a linearizable read (so a new leader sees every
// decision of earlier terms). It fails with ErrNotDecided when none exists.
func Get(ctx context.Context, s Store) (Record, error) {
	r, _, err := s.Get(ctx, ResourceType, ResourceID, consensus.Linearizable)
	if errors.Is(err, consensus.ErrNotFound) {
		return Record{}, ErrNotDecided
	}
	if err != nil {
		return Record{}, err
	}
	return Decode(r)
}

// Decode turns a stored record resource (from a read or a Watch event) into
// a Record.
func Decode(r consensus.Resource) (Record, error) {
	rec, err := Parse(r.Spec)
	if err != nil {
		return Record{}, fmt.Errorf("stored etcd bootstrap record at revision %d: %w", r.UpdateRevision, err)
	}
	rec.Version = r.Version
	return rec, nil
}

// Parse decodes a record's stored spec (JSON); Version is left zero.
func Parse(spec []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(spec, &rec); err != nil {
		return Record{}, fmt.Errorf("etcd bootstrap record does not decode: %w", err)
	}
	return rec, nil
}

// Recover stores generation expectedGeneration+1 with a fresh token and the
// given initial members, decided by the node named by — the disaster-recovery
// path, when a majority of etcd members is lost for good. restore, when set,
// is the snapshot the initial member restores first (then members must be
// that node alone). It writes only if
// the stored record is still at expectedGeneration (compare-and-set on the
// version read); otherwise it fails with *StaleGenerationError carrying the
// current record, so two recoveries from the same generation never both win.
func Recover(ctx context.Context, s Store, expectedGeneration uint64, members []Member, by string, restore *Snapshot) (Record, error) {
	if restore != nil && (len(members) != 1 || members[0].Name != restore.Node || restore.SHA256 == "") {
		return Record{}, fmt.Errorf("%w: a restore names its snapshot's hash and the one member that holds it", ErrInvalid)
	}
	cur, err := Get(ctx, s)
	if err != nil {
		return Record{}, err
	}
	if cur.Generation != expectedGeneration {
		return Record{}, &StaleGenerationError{Expected: expectedGeneration, Current: cur}
	}
	rec, err := proposal(expectedGeneration+1, members, by)
	if err != nil {
		return Record{}, err
	}
	rec.PreviousTokenHashes = append(append([]string(nil), cur.PreviousTokenHashes...), TokenHash(cur.ClusterToken))
	rec.RestoreFrom = restore
	spec, err := json.Marshal(rec)
	if err != nil {
		return Record{}, err
	}
	update := func() (consensus.WriteResult, error) {
		return s.Update(ctx, ResourceType, ResourceID, spec, cur.Version, consensus.WithRequestID(rec.DecisionID))
	}
	w, err := retryUnknown(update)
	if errors.Is(err, consensus.ErrConflict) {
		now, gerr := Get(ctx, s)
		if gerr != nil {
			return Record{}, fmt.Errorf("read current etcd bootstrap record: %w", gerr)
		}
		if now.DecisionID == rec.DecisionID {
			return now, nil
		}
		return Record{}, &StaleGenerationError{Expected: expectedGeneration, Current: now}
	}
	if err != nil {
		return Record{}, fmt.Errorf("recover etcd bootstrap: %w", err)
	}
	rec.Version = w.Resource.Version
	return rec, nil
}

// TokenHash is the hex SHA-256 of a cluster token: what a member's data
// marker records (node/machine/etcd) and what the record keeps of earlier
// generations, enough to recognise data without keeping old tokens.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// retryUnknown sends a write once more, with the same command and request
// ID, when the first attempt's outcome is unknown: the store applies it at
// most once and a retry of an applied write returns the recorded outcome
// (consensus DESIGN.md, "At most once per request ID"). No wait: a retry on
// a node that lost leadership fails at once with ErrNotLeader.
func retryUnknown(write func() (consensus.WriteResult, error)) (consensus.WriteResult, error) {
	w, err := write()
	if errors.Is(err, consensus.ErrOutcomeUnknown) {
		return write()
	}
	return w, err
}

// proposal builds a new generation with a random token and request ID.
func proposal(gen uint64, members []Member, by string) (Record, error) {
	if err := checkMembers(members); err != nil {
		return Record{}, err
	}
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return Record{}, fmt.Errorf("generate etcd cluster token: %w", err)
	}
	return Record{
		Generation:     gen,
		ClusterToken:   hex.EncodeToString(tok[:]),
		InitialMembers: append([]Member(nil), members...),
		Created:        time.Now().UTC().Truncate(time.Second),
		DecidedBy:      by,
		DecisionID:     consensus.NewRequestID(),
	}, nil
}

func checkMembers(members []Member) error {
	if len(members) == 0 {
		return fmt.Errorf("%w: no initial member", ErrInvalid)
	}
	seen := map[string]bool{}
	for _, m := range members {
		if m.Name == "" {
			return fmt.Errorf("%w: a member has no name", ErrInvalid)
		}
		if seen[m.Name] {
			return fmt.Errorf("%w: member %s listed twice", ErrInvalid, m.Name)
		}
		seen[m.Name] = true
		u, err := url.Parse(m.PeerURL)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("%w: member %s peer URL %q is not https://host:port", ErrInvalid, m.Name, m.PeerURL)
		}
	}
	return nil
}
