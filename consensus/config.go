package consensus

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// DefaultRaftPort is the Raft port of every Cairn node (see shared DESIGN.md).
const DefaultRaftPort = 6442

// Config configures a Store. Zero values take the defaults documented on each
// field; DefaultTiming and FastTiming are the two tuned profiles.
type Config struct {
	// NodeID is this server's Raft ID: the node name, stable across restarts.
	NodeID string
	// DataDir holds raft.db and snapshots/ (see DESIGN.md, "On disk").
	DataDir string
	// BindAddr is the TCP address the transport listens on ("127.0.1.1:6442").
	BindAddr string
	// AdvertiseAddr is the address peers dial; the listener's when empty.
	AdvertiseAddr string
	// TLS, when set, makes the transport mutual TLS.
	TLS *TLSConfig
	// WrapStream, when set, wraps the transport's stream layer: fault
	// injection in tests, or metering.
	WrapStream func(raft.StreamLayer) raft.StreamLayer

	Timing Timing

	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one (default 8192).
	SnapshotThreshold uint64
	// SnapshotInterval is how often the threshold is checked (default 30s).
	SnapshotInterval time.Duration
	// TrailingLogs is how many entries a snapshot leaves in the log, so a
	// briefly lagging follower catches up from the log (default 4096).
	TrailingLogs uint64
	// HistoryLimit is how many past events Watch can resume from (default 10000).
	HistoryLimit int
	// DedupWindow is how many recent request IDs are remembered (default 50000).
	DedupWindow int
	// NoSync turns off fsync of the log: for benchmarks of everything else
	// only. A crash can then lose acknowledged writes.
	NoSync bool

	// Logger receives the store's and raft's logs; slog.Default() when nil.
	Logger *slog.Logger
}

// Timing is the Raft timing profile.
type Timing struct {
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// ApplyTimeout bounds how long a write waits to be enqueued when the
	// caller's context has no deadline.
	ApplyTimeout time.Duration
}

// DefaultTiming is tuned for a LAN: a failed leader is replaced in about a
// second, and a 200 ms hiccup does not cause an election.
func DefaultTiming() Timing {
	return Timing{
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
		ApplyTimeout:       10 * time.Second,
	}
}

// Scaled stretches the failure-detection timeouts (heartbeat, election,
// leader lease) by n, as Consul's raft_multiplier does; CommitTimeout and
// ApplyTimeout stay.
func (t Timing) Scaled(n int) Timing {
	d := time.Duration(n)
	t.HeartbeatTimeout *= d
	t.ElectionTimeout *= d
	t.LeaderLeaseTimeout *= d
	return t
}

// FastTiming is for tests on loopback: a leader is replaced in a few hundred
// milliseconds. The timeouts stay well above a loaded 2-core machine's
// scheduling hiccups (tens of ms), so spurious elections stay rare.
func FastTiming() Timing {
	return Timing{
		HeartbeatTimeout:   150 * time.Millisecond,
		ElectionTimeout:    150 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		ApplyTimeout:       5 * time.Second,
	}
}

func (c *Config) withDefaults() (Config, error) {
	out := *c
	if out.NodeID == "" {
		return out, fmt.Errorf("%w: config: NodeID is empty", ErrInvalid)
	}
	if out.DataDir == "" {
		return out, fmt.Errorf("%w: config: DataDir is empty", ErrInvalid)
	}
	if out.BindAddr == "" {
		return out, fmt.Errorf("%w: config: BindAddr is empty", ErrInvalid)
	}
	if out.Timing == (Timing{}) {
		out.Timing = DefaultTiming()
	}
	if out.Timing.ApplyTimeout == 0 {
		out.Timing.ApplyTimeout = DefaultTiming().ApplyTimeout
	}
	if out.SnapshotThreshold == 0 {
		out.SnapshotThreshold = 8192
	}
	if out.SnapshotInterval == 0 {
		out.SnapshotInterval = 30 * time.Second
	}
	if out.TrailingLogs == 0 {
		out.TrailingLogs = 4096
	}
	if out.HistoryLimit == 0 {
		out.HistoryLimit = 10000
	}
	if out.DedupWindow == 0 {
		out.DedupWindow = 50000
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out, nil
}
