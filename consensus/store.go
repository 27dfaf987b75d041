package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/cairn-project/cairn/internal/hclogslog"
)

// File names under Config.DataDir.
const (
	logFile     = "raft.db"
	snapshotDir = "snapshots"
	// snapshotsRetained: one to restore from plus one being written.
	snapshotsRetained = 2
)

// Store is one node's replica of the cluster store. Writes and linearizable
// reads go through the Raft leader; stale reads and watches are served from
// the local replica.
type Store struct {
	cfg    Config
	log    *slog.Logger
	fsm    *fsm
	raft   *raft.Raft
	bolt   *raftboltdb.BoltStore
	logs   raft.LogStore // bolt behind a cache of recent entries
	snaps  *raft.FileSnapshotStore
	trans  *raft.NetworkTransport
	notify chan bool

	readCh chan chan readIndexResult

	leader leaderState
	peers  peerHealth

	// dropNextAck is a named fault point: the next successful write is
	// reported as ErrOutcomeUnknown, as if the leader died right after
	// committing it. Tests use it to prove request-ID de-duplication.
	dropNextAck atomic.Bool
	// faults are the named storage fault points (fault.go).
	faults faults

	// fatal is the first fatal storage fault; fatalCh is closed when it is
	// recorded, and watchFatal then stops the store.
	fatal     atomic.Pointer[error]
	fatalOnce sync.Once
	fatalCh   chan struct{}

	stopOnce sync.Once
	stopCh   chan struct{}
	wg       sync.WaitGroup
}

// Open verifies the data directory, then starts the Raft node. A node with
// no state waits to be bootstrapped or added by a leader; a node with state
// replays it and rejoins its cluster. Open refuses to start, with an error
// naming the file and entry, when the log or a snapshot is corrupt or holds
// a command this build does not know.
func Open(c Config) (*Store, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "consensus", "node", cfg.NodeID),
		fsm:     newFSM(cfg.HistoryLimit, cfg.DedupWindow),
		notify:  make(chan bool, 16),
		readCh:  make(chan chan readIndexResult, 4096),
		stopCh:  make(chan struct{}),
		fatalCh: make(chan struct{}),
	}
	s.fsm.faults, s.fsm.onFatal = &s.faults, s.fail
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := s.openDisk(); err != nil {
		return nil, err
	}
	if err := s.startRaft(); err != nil {
		_ = s.bolt.Close()
		return nil, err
	}
	s.wg.Add(3)
	go s.runLeadership()
	go s.runReadIndex()
	go s.watchFatal()
	return s, nil
}

// openDisk opens the log and snapshot stores and verifies both (verify.go).
func (s *Store) openDisk() error {
	path := filepath.Join(s.cfg.DataDir, logFile)
	b, err := raftboltdb.New(raftboltdb.Options{
		Path:   path,
		NoSync: s.cfg.NoSync,
		BoltOptions: &bolt.Options{
			Timeout:        time.Second,
			NoFreelistSync: true,
		},
	})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	s.bolt = b
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.DataDir, snapshotsRetained, hclogslog.New(s.log))
	if err != nil {
		_ = b.Close()
		return fmt.Errorf("open %s: %w", filepath.Join(s.cfg.DataDir, snapshotDir), err)
	}
	s.snaps = snaps
	if err := verifyDisk(s.cfg.DataDir, b, snaps); err != nil {
		_ = b.Close()
		return err
	}
	return nil
}

// transportTimeout bounds one Raft RPC (a heartbeat to a silent peer).
const transportTimeout = 5 * time.Second

func (s *Store) startRaft() error {
	ln, err := net.Listen("tcp", s.cfg.BindAddr)
	if err != nil {
		return fmt.Errorf("listen for raft on %s: %w", s.cfg.BindAddr, err)
	}
	var adv net.Addr
	if s.cfg.AdvertiseAddr != "" {
		if adv, err = net.ResolveTCPAddr("tcp", s.cfg.AdvertiseAddr); err != nil {
			_ = ln.Close()
			return fmt.Errorf("resolve advertise address %s: %w", s.cfg.AdvertiseAddr, err)
		}
	}
	stream := NewTCPStreamLayer(ln, adv, s.cfg.TLS)
	if s.cfg.WrapStream != nil {
		stream = s.cfg.WrapStream(stream)
	}
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 4,
		Timeout: transportTimeout,
		Logger:  hclogslog.New(s.log.With("component", "raft-net")),
	})

	// A heartbeat loop that fails reports again at least this often
	// (its RPC timeout plus its capped backoff of HeartbeatTimeout/2).
	s.peers.lapse = transportTimeout + 2*s.cfg.Timing.HeartbeatTimeout
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.Logger = hclogslog.New(s.log.With("component", "raft"))
	rc.HeartbeatTimeout = s.cfg.Timing.HeartbeatTimeout
	rc.ElectionTimeout = s.cfg.Timing.ElectionTimeout
	rc.LeaderLeaseTimeout = s.cfg.Timing.LeaderLeaseTimeout
	rc.CommitTimeout = s.cfg.Timing.CommitTimeout
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	rc.SnapshotInterval = s.cfg.SnapshotInterval
	rc.TrailingLogs = s.cfg.TrailingLogs
	rc.NotifyCh = s.notify
	// Group commit: the leader takes up to MaxAppendEntries queued writes
	// into one log append (one fsync) and one AppendEntries per follower.
	// BatchApplyCh stays off: a buffered apply channel strands futures
	// queued at shutdown (raft never answers them). Group commit works
	// without it, since waiting writers are parked on the channel send.
	rc.MaxAppendEntries = 512

	cache, err := raft.NewLogCache(1024, s.bolt)
	if err != nil {
		_ = s.trans.Close()
		return fmt.Errorf("log cache: %w", err)
	}
	// The fatal wrapper sits above the cache (which caches only what bolt
	// stored), so raft gets its error unflattened: LogCache formats the
	// inner error with %q.
	logs := &fatalLogStore{LogStore: cache, fault: &s.faults.logWrite, fail: s.fail}
	s.logs = logs
	r, err := raft.NewRaft(rc, s.fsm, logs, s.bolt, s.snaps, s.trans)
	if err != nil {
		_ = s.trans.Close()
		return fmt.Errorf("start raft: %w", err)
	}
	s.raft = r
	r.RegisterObserver(raft.NewObserver(nil, false, s.peers.observe))
	return nil
}

// fail records err as the store's fatal storage fault (the first one wins)
// and wakes watchFatal. It never blocks: it runs on raft's goroutines (the
// log store, the FSM), which the stop it causes waits for. A fault after
// the store began to stop for another reason is not recorded.
func (s *Store) fail(err error) {
	select {
	case <-s.stopCh:
		return
	default:
	}
	s.fatalOnce.Do(func() {
		s.fatal.Store(&err)
		close(s.fatalCh)
	})
}

// watchFatal stops the node on its first fatal storage fault (a failed log
// write, a committed entry it cannot apply, a snapshot it cannot restore),
// so the replica never moves past it: etcd's rule, a storage fault stops
// the node rather than letting it diverge. A restart then recovers from
// disk, or refuses to open when what is on disk is corrupt.
func (s *Store) watchFatal() {
	defer s.wg.Done()
	select {
	case <-s.fatalCh:
		s.log.Error("stopping: fatal storage fault", "error", s.Err())
		s.stop()
	case <-s.stopCh:
	}
}

// Done returns a channel that is closed when the store stops: after Close,
// or by itself on a fatal storage fault, which Err then names. It is the
// one signal a caller selects on to fail-stop with the store.
func (s *Store) Done() <-chan struct{} { return s.stopCh }

// Err returns the fatal storage fault that stopped (or is stopping) the
// store, or nil: a failed log write (ErrLogWrite), a committed entry it
// cannot apply (ErrUnknownCommand, ErrCorrupt), or a snapshot it cannot
// restore (ErrCorrupt). Injected faults also wrap ErrFaultInjected.
func (s *Store) Err() error {
	if p := s.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// stop shuts the node down once.
func (s *Store) stop() {
	s.stopOnce.Do(func() {
		close(s.stopCh)
		if ferr := s.raft.Shutdown().Error(); ferr != nil {
			s.log.Warn("raft shutdown", "error", ferr)
		}
		s.trans.CloseStreams()
		if cerr := s.trans.Close(); cerr != nil {
			s.log.Warn("close raft transport", "error", cerr)
		}
		if cerr := s.bolt.Close(); cerr != nil {
			s.log.Warn("close raft log", "error", cerr)
		}
	})
}

// Close stops the node. It does not leave the cluster: a closed voter is
// simply unreachable until it is opened again or removed.
func (s *Store) Close() error {
	s.stop()
	s.wg.Wait() // runLeadership revokes the hooks on its way out
	return nil
}

// alive returns ErrStopped (wrapping the fatal fault, if any) once stopped,
// or once a fatal fault was recorded and the stop is under way.
func (s *Store) alive() error {
	if err := s.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrStopped, err)
	}
	select {
	case <-s.stopCh:
		return ErrStopped
	default:
		return nil
	}
}

// NodeID returns this server's Raft ID.
func (s *Store) NodeID() string { return s.cfg.NodeID }

// Addr returns the Raft address peers use for this node.
func (s *Store) Addr() string { return string(s.trans.LocalAddr()) }

// IsLeader reports whether this node is the leader and has finished
// establishing leadership (its barrier is applied).
func (s *Store) IsLeader() bool {
	return s.leader.readyTerm.Load() != 0 && s.raft.State() == raft.Leader
}

// notLeader builds the error for a call that needs the leader.
func (s *Store) notLeader() error {
	addr, id := s.raft.LeaderWithID()
	return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
}

// mapRaftErr turns raft's errors into this package's.
func (s *Store) mapRaftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrNotVoter):
		return s.notLeader()
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	case errors.Is(err, ErrLogWrite):
		// The leader could not write the entry to its own log: it was not
		// replicated from here, but whether the disk kept it is unknown.
		return fmt.Errorf("%w: %w: %w", ErrStopped, ErrOutcomeUnknown, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		if aerr := s.alive(); aerr != nil {
			return aerr
		}
		return ErrStopped
	default:
		return err
	}
}

// timeoutFor derives a raft timeout from ctx, or the configured default.
func (s *Store) timeoutFor(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return s.cfg.Timing.ApplyTimeout
}
