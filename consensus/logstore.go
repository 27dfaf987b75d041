package consensus

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// fatalLogStore turns a failed write to the Raft log into a stop of the
// store. hashicorp/raft v1.7.3 does not stop on its own: a leader whose
// StoreLogs fails answers the waiting writes with the error and steps down
// to follower (raft.go, dispatchLogs), free to be elected again on the same
// disk; a follower's failed append only fails that AppendEntries
// (raft.go, appendEntries) and the leader retries forever. Either way the
// node keeps running on a log it could not write. etcd's rule is the other
// one — a failed log write stops the node — and this wrapper applies it:
// the write fails to raft as before, and the error is recorded as fatal,
// which stops the store from another goroutine (stop waits for raft's
// goroutines, so it cannot run on the one calling us).
type fatalLogStore struct {
	raft.LogStore
	fault *faultPoint
	fail  func(error)
}

// StoreLog implements raft.LogStore.
func (l *fatalLogStore) StoreLog(log *raft.Log) error {
	return l.StoreLogs([]*raft.Log{log})
}

// StoreLogs implements raft.LogStore.
func (l *fatalLogStore) StoreLogs(logs []*raft.Log) error {
	if l.fault.fire() {
		return l.failed("store", faultErr(FaultLogWrite))
	}
	if err := l.LogStore.StoreLogs(logs); err != nil {
		return l.failed("store", err)
	}
	return nil
}

// DeleteRange implements raft.LogStore. A truncation that fails leaves a
// conflicting suffix or a log raft believes compacted: fatal as well.
func (l *fatalLogStore) DeleteRange(lo, hi uint64) error {
	if l.fault.fire() {
		return l.failed("delete range", faultErr(FaultLogWrite))
	}
	if err := l.LogStore.DeleteRange(lo, hi); err != nil {
		return l.failed(fmt.Sprintf("delete range %d..%d", lo, hi), err)
	}
	return nil
}

func (l *fatalLogStore) failed(op string, err error) error {
	err = fmt.Errorf("%w: %s: %w", ErrLogWrite, op, err)
	l.fail(err)
	return err
}

// IsMonotonic implements raft.MonotonicLogStore, forwarding what the store
// below says, so wrapping changes nothing of how raft treats the log.
func (l *fatalLogStore) IsMonotonic() bool {
	m, ok := l.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}
