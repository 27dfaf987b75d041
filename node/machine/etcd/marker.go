package etcd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cairn-project/cairn/internal/atomicfile"
)

// MarkerFile is Cairn's note inside etcd's data directory saying whose data
// it is. etcd leaves unknown files in its data directory alone (it warns
// about them), and the note travels with the data when a directory is
// copied or a disk moved, which is what lets a node recognise data from
// another cluster.
const MarkerFile = "cairn-member.json"

// Marker says which cluster, generation and node state a data directory
// was created for. The cluster token itself is not stored, only its hash:
// enough to compare, nothing to reuse.
type Marker struct {
	Generation uint64 `json:"generation"`
	TokenHash  string `json:"tokenHash"`
	Name       string `json:"name"`
	StateID    string `json:"stateID"`
	// State and InitialCluster are what the member was first started
	// with. etcd ignores both once it has data, but a restart passes them
	// again so that the member's command line stays the same (a changed
	// one would make the supervisor restart it).
	State          string `json:"state,omitempty"`
	InitialCluster []Peer `json:"initialCluster,omitempty"`
	// ExtraArgs and Settings are the cluster.etcd.extraArgs the member
	// runs with and their hash (config.EtcdSettingsHash): kept until the
	// Raft leader grants this member the config's new ones, so that a
	// change restarts one member at a time.
	ExtraArgs map[string]string `json:"extraArgs,omitempty"`
	Settings  string            `json:"settings,omitempty"`
}

// NewMarker is the marker of a member name (state stateID) of the etcd
// cluster of generation gen, whose token hashes to tokenHash
// (etcdboot.TokenHash, which the node's mirror of the record carries).
func NewMarker(gen uint64, tokenHash, name, stateID string) Marker {
	return Marker{Generation: gen, TokenHash: tokenHash, Name: name, StateID: stateID}
}

// DataKind is what a data directory holds.
type DataKind string

const (
	// DataEmpty: no etcd data yet (no member directory): nothing to protect,
	// whatever marker an earlier start that never got going left.
	DataEmpty DataKind = "empty"
	// DataOurs: the marker matches this cluster's generation and token and
	// this node's name and state.
	DataOurs DataKind = "ours"
	// DataForeign: etcd data with no marker, or a marker of another
	// cluster, generation or node state. It is never started nor wiped.
	DataForeign DataKind = "foreign"
)

// DataState is the outcome of Inspect.
type DataState struct {
	Kind DataKind
	// Reason says, for DataForeign, whose the data is.
	Reason string
	Marker *Marker
}

// Inspect looks at the data directory of l and compares its marker with
// want (the marker this node would write now). It never changes anything.
func Inspect(l Layout, want Marker) (DataState, error) {
	dir := l.DataDir()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return DataState{Kind: DataEmpty}, nil
	}
	if err != nil {
		return DataState{}, fmt.Errorf("read etcd data dir: %w", err)
	}
	others := slices.DeleteFunc(entries, func(e os.DirEntry) bool { return e.Name() == MarkerFile || strings.HasPrefix(e.Name(), "."+MarkerFile) })
	if len(others) == 0 {
		return DataState{Kind: DataEmpty}, nil
	}
	raw, err := os.ReadFile(filepath.Join(dir, MarkerFile))
	if errors.Is(err, os.ErrNotExist) {
		return DataState{Kind: DataForeign, Reason: fmt.Sprintf("%s holds data that Cairn did not create (no %s)", dir, MarkerFile)}, nil
	}
	if err != nil {
		return DataState{}, fmt.Errorf("read etcd data marker: %w", err)
	}
	var m Marker
	if err := json.Unmarshal(raw, &m); err != nil {
		return DataState{Kind: DataForeign, Reason: fmt.Sprintf("%s does not decode: %v", filepath.Join(dir, MarkerFile), err)}, nil
	}
	st := DataState{Kind: DataOurs, Marker: &m}
	switch {
	case m.TokenHash != want.TokenHash || m.Generation != want.Generation:
		st.Kind, st.Reason = DataForeign, fmt.Sprintf("%s belongs to another etcd cluster (generation %d, token %.12s…; this cluster is generation %d, token %.12s…)",
			dir, m.Generation, m.TokenHash, want.Generation, want.TokenHash)
	case m.Name != want.Name || m.StateID != want.StateID:
		st.Kind, st.Reason = DataForeign, fmt.Sprintf("%s belongs to member %s of state %s, not to %s of state %s",
			dir, m.Name, m.StateID, want.Name, want.StateID)
	}
	return st, nil
}

// WriteMarker creates the data directory (0700, as etcd requires) and
// writes m into it, before etcd first starts there.
func WriteMarker(l Layout, m Marker) error {
	if err := os.MkdirAll(l.DataDir(), 0o700); err != nil {
		return fmt.Errorf("create etcd data dir: %w", err)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(l.DataDir(), MarkerFile), raw, 0o600)
}

// SetAside renames the data directory to data.removed-UNIXTIME beside it:
// the data of a member the cluster removed, kept for the operator rather
// than deleted, and out of the way of a new member.
func SetAside(l Layout, now time.Time) error {
	to := fmt.Sprintf("%s.removed-%d", l.DataDir(), now.Unix())
	if err := os.Rename(l.DataDir(), to); err != nil {
		return fmt.Errorf("set aside the data of a removed etcd member: %w", err)
	}
	return nil
}
