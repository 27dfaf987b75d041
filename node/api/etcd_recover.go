package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"connectrpc.com/connect"
	bolt "go.etcd.io/bbolt"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/node/cluster/etcdboot"
	"github.com/cairn-project/cairn/node/cluster/formation"
	"github.com/cairn-project/cairn/node/machine/etcd"
	etcdv1 "github.com/cairn-project/cairn/proto/gen/cairn/etcd/v1"
)

// RecoveryStore is the Raft store as EtcdService.Recover uses it: the
// EtcdBootstrap record, and whether this node leads (the recovery is a
// write made by the leader, which also restores the snapshot).
type RecoveryStore interface {
	etcdboot.Store
	IsLeader() bool
	// Leader is the Raft leader's server ID and address, empty if none.
	Leader() (id, addr string)
}

// EtcdRecovery is what EtcdService.Recover needs beyond the local member:
// a control plane that runs etcd has one; nil refuses Recover with
// failed_precondition.
type EtcdRecovery struct {
	Store RecoveryStore
	// Self is this node as the one initial member of a recovered
	// generation: its name, etcd peer URL and state ID.
	Self etcdboot.Member
	// Layout is this node's etcd directory; the snapshot is stored at its
	// SnapshotFile, where the restore reads it.
	Layout etcd.Layout
	Logger *slog.Logger

	// mu makes recoveries on this node one at a time: the snapshot file
	// is replaced only by the recovery that then writes the record.
	mu sync.Mutex
}

// quorumProbe bounds the local member's status read. A member without a
// leader answers Status at once (leader 0); the member list it reads next
// waits for a leader, which is what the bound cuts short.
const quorumProbe = 3 * time.Second

// Recover implements cairn.etcd.v1.EtcdService. The order makes a refused
// call change nothing: leadership, the stored generation and the quorum
// are checked before any byte is stored; the upload goes to a temporary
// file that replaces the snapshot file only once it is a whole etcd
// snapshot, just before the record is written (so the restore the record
// triggers finds it).
func (s *etcdService) Recover(ctx context.Context, stream *connect.ClientStream[etcdv1.RecoverRequest]) (*connect.Response[etcdv1.RecoverResponse], error) {
	r := s.recovery
	if r == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errNoEtcd)
	}
	first, err := firstMessage(stream)
	if err != nil {
		return nil, err
	}
	start := first.GetStart()
	if start == nil {
		return nil, errNoStart()
	}
	if err := r.checkLeader(); err != nil {
		return nil, err
	}
	if !r.mu.TryLock() {
		return nil, connect.NewError(connect.CodeAborted, ErrRecoveryBusy)
	}
	defer r.mu.Unlock()
	gen, err := r.generation(ctx, start.GetExpectedGeneration())
	if err != nil {
		return nil, err
	}
	if !start.GetForce() {
		if err := s.checkNoQuorum(ctx); err != nil {
			return nil, err
		}
	}
	snap, err := r.receive(first.GetData(), stream)
	if err != nil {
		return nil, err
	}
	log := r.log()
	rec, err := etcdboot.Recover(ctx, r.Store, gen, []etcdboot.Member{r.Self}, r.Self.Name, &snap)
	if err != nil {
		return nil, r.recoverError(err)
	}
	log.Warn("etcd recovery decided: this node restores the snapshot and starts a new etcd cluster",
		"generation", rec.Generation, "sha256", snap.SHA256, "size", snap.Size, "force", start.GetForce())
	return connect.NewResponse(&etcdv1.RecoverResponse{
		Generation: rec.Generation, SnapshotSha256: snap.SHA256, SnapshotSize: snap.Size, RestoreNode: r.Self.Name,
	}), nil
}

func (r *EtcdRecovery) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger.With("component", "etcd-recover")
}

// checkLeader refuses a node that does not lead, naming the one that does.
func (r *EtcdRecovery) checkLeader() error {
	if r.Store.IsLeader() {
		return nil
	}
	id, _ := r.Store.Leader()
	if id == "" {
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("%w: %w", ErrRecoverNotLeader, ErrNoLeader))
	}
	return connect.NewError(connect.CodeFailedPrecondition,
		fmt.Errorf("%w: %s is not, %s is (cairnctl etcd recover finds it)", ErrRecoverNotLeader, r.Self.Name, formation.NodeName(id)))
}

// generation is the generation the recovery replaces: the expected one if
// still current, else the current one (expected 0).
func (r *EtcdRecovery) generation(ctx context.Context, expected uint64) (uint64, error) {
	cur, err := etcdboot.Get(ctx, r.Store)
	if errors.Is(err, etcdboot.ErrNotDecided) {
		return 0, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("nothing to recover: %w", err))
	}
	if err != nil {
		return 0, r.recoverError(fmt.Errorf("read the etcd bootstrap record: %w", err))
	}
	if expected != 0 && expected != cur.Generation {
		return 0, r.recoverError(&etcdboot.StaleGenerationError{Expected: expected, Current: cur})
	}
	return cur.Generation, nil
}

// checkNoQuorum refuses while the local member follows a leader: etcd then
// has a quorum, and recovery would replace a working cluster's data. A
// member that does not answer (stopped, no data) counts as without one.
func (s *etcdService) checkNoQuorum(ctx context.Context) error {
	if s.ops == nil {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, quorumProbe)
	defer cancel()
	st, err := s.ops.Status(pctx)
	if err != nil || st.LeaderID == 0 {
		return nil
	}
	return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
		"%w: this node's member follows leader %x. Recovery replaces a working cluster's data with the snapshot's and loses every write made after it; use it only when a majority of members is lost for good, and pass force to recover anyway",
		ErrEtcdHasQuorum, st.LeaderID))
}

// receive stores the upload (first chunk, then the stream's) at the
// snapshot file, through a synced temporary file renamed into place once
// it holds a whole etcd snapshot; anything else is removed and refused.
func (r *EtcdRecovery) receive(first []byte, stream *connect.ClientStream[etcdv1.RecoverRequest]) (etcdboot.Snapshot, error) {
	dst := r.Layout.SnapshotFile()
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return etcdboot.Snapshot{}, toConnect(err)
	}
	tmp := dst + ".part"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return etcdboot.Snapshot{}, toConnect(fmt.Errorf("create %s: %w", tmp, err))
	}
	kept := false
	defer func() {
		if !kept {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	sum := newSnapshotHash()
	w := io.MultiWriter(f, sum)
	if _, err := w.Write(first); err != nil {
		return etcdboot.Snapshot{}, toConnect(fmt.Errorf("write %s: %w", tmp, err))
	}
	for stream.Receive() {
		if _, err := w.Write(stream.Msg().GetData()); err != nil {
			return etcdboot.Snapshot{}, toConnect(fmt.Errorf("write %s: %w", tmp, err))
		}
	}
	if err := stream.Err(); err != nil {
		return etcdboot.Snapshot{}, err
	}
	if err := f.Sync(); err != nil {
		return etcdboot.Snapshot{}, toConnect(fmt.Errorf("sync %s: %w", tmp, err))
	}
	if err := f.Close(); err != nil {
		return etcdboot.Snapshot{}, toConnect(fmt.Errorf("close %s: %w", tmp, err))
	}
	if err := sum.check(); err != nil {
		return etcdboot.Snapshot{}, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if err := checkBolt(tmp); err != nil {
		return etcdboot.Snapshot{}, connect.NewError(connect.CodeInvalidArgument, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return etcdboot.Snapshot{}, toConnect(fmt.Errorf("move the snapshot into place: %w", err))
	}
	kept = true
	// The rename lasts only once the directory is synced too.
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return etcdboot.Snapshot{Node: r.Self.Name, SHA256: hex.EncodeToString(sum.file.Sum(nil)), Size: sum.size}, nil
}

// checkBolt opens the file read-only as a bbolt database, which checks
// its meta pages (magic, version, checksum): the trailing hash only says
// the bytes are whole, not that they are a database.
func checkBolt(path string) error {
	db, err := bolt.Open(path, 0o400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("%w: not a bbolt database: %w", ErrNotEtcdSnapshot, err)
	}
	return db.Close()
}

// snapshotHash hashes a snapshot as it streams: the whole file (what the
// record names and the restore checks), and the file without its last 32
// bytes, which etcd's Snapshot appends as the SHA-256 of what precedes
// them (and etcd's restore verifies).
type snapshotHash struct {
	file, body hash.Hash
	tail       []byte // the last bytes seen, up to sha256.Size
	size       int64
}

func newSnapshotHash() *snapshotHash {
	return &snapshotHash{file: sha256.New(), body: sha256.New()}
}

func (h *snapshotHash) Write(p []byte) (int, error) {
	h.file.Write(p)
	h.size += int64(len(p))
	if len(p) >= sha256.Size {
		// What was held back is not the end after all.
		h.body.Write(h.tail)
		h.body.Write(p[:len(p)-sha256.Size])
		h.tail = append(h.tail[:0], p[len(p)-sha256.Size:]...)
		return len(p), nil
	}
	h.tail = append(h.tail, p...)
	if n := len(h.tail) - sha256.Size; n > 0 {
		h.body.Write(h.tail[:n])
		h.tail = append(h.tail[:0], h.tail[n:]...)
	}
	return len(p), nil
}

// check reports whether the bytes ended with the SHA-256 of the rest.
func (h *snapshotHash) check() error {
	if h.size == 0 {
		return fmt.Errorf("%w: the file is empty", ErrNotEtcdSnapshot)
	}
	if len(h.tail) < sha256.Size || !bytes.Equal(h.body.Sum(nil), h.tail) {
		return fmt.Errorf("%w: it does not end with etcd's SHA-256 of its contents (take it with cairnctl etcd snapshot; a database file copied from a data directory has none)", ErrNotEtcdSnapshot)
	}
	return nil
}

// recoverError maps etcdboot's outcomes: a lost race is aborted with the
// current generation, a lost leadership names the new leader.
func (r *EtcdRecovery) recoverError(err error) error {
	var stale *etcdboot.StaleGenerationError
	if errors.As(err, &stale) {
		return connect.NewError(connect.CodeAborted, fmt.Errorf(
			"%w: the current generation is %d (decided by %s); nothing was changed", err, stale.Current.Generation, stale.Current.DecidedBy))
	}
	if errors.Is(err, consensus.ErrNotLeader) {
		if cerr := r.checkLeader(); cerr != nil {
			return cerr
		}
	}
	if errors.Is(err, etcdboot.ErrInvalid) {
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return toConnect(err)
}
