package consensus

import (
	"errors"
	"fmt"
)

var (
	// ErrNotLeader is returned by writes, linearizable reads and membership
	// changes made on a node that is not the Raft leader. The error is wrapped
	// in a *NotLeaderError that names the leader when one is known, so the API
	// layer can forward the call.
	ErrNotLeader = errors.New("not the raft leader")

	// ErrNotFound is returned by Get, Update and Delete when the resource does
	// not exist.
	ErrNotFound = errors.New("resource not found")

	// ErrConflict is returned when a write's compare-and-set fails: Create of an
	// existing resource, or Update/Delete whose expected version is not the
	// current one. It is wrapped in a *ConflictError carrying the current version.
	ErrConflict = errors.New("version conflict")

	// ErrCompacted is returned by Watch when the requested revision is older
	// than the retained history. It is wrapped in a *CompactedError naming the
	// oldest revision still available.
	ErrCompacted = errors.New("revision compacted")

	// ErrRequestIDReused is returned when a request ID already applied is sent
	// again with a different command: the original outcome cannot be its answer.
	ErrRequestIDReused = errors.New("request id reused for a different command")

	// ErrHasState is returned by Bootstrap on a node that already has Raft state
	// (log, snapshot or a known term): such a node must never bootstrap again.
	ErrHasState = errors.New("raft state already exists")

	// ErrCorrupt is returned by Open when the log or a snapshot on disk cannot
	// be decoded or fails its checksum; the error names the file and entry.
	ErrCorrupt = errors.New("corrupt data on disk")

	// ErrUnknownCommand is returned by Open (and stops a running store) when a
	// log entry or snapshot carries a command type or format this build does
	// not know. Skipping it would let this node diverge from the others.
	ErrUnknownCommand = errors.New("unknown command type")

	// ErrStopped is returned by every call on a Store that was closed, or that
	// stopped itself after a fatal storage fault (see Store.Err); in the
	// second case it wraps the fault.
	ErrStopped = errors.New("store stopped")

	// ErrLogWrite is the fatal error (Store.Err) of a store whose Raft log
	// could not be written: the write, or the truncation, failed on disk
	// (or at the FaultLogWrite fault point), and the store stopped.
	ErrLogWrite = errors.New("raft log write failed")

	// ErrFaultInjected is wrapped by every error a fault point produces
	// (Store.InjectFault), so a test can tell an injected fault from a real one.
	ErrFaultInjected = errors.New("injected fault")

	// ErrOutcomeUnknown is returned by a write whose fate is unknown: leadership
	// was lost or the node stopped after the command was sent to Raft. Retrying
	// with the same request ID (WithRequestID) is safe: it applies at most once.
	ErrOutcomeUnknown = errors.New("write outcome unknown; retry with the same request id")

	// ErrInvalid is returned for a malformed request (empty type or id, for
	// example) before anything reaches Raft.
	ErrInvalid = errors.New("invalid request")
)

// NotLeaderError carries the current leader, if known, with ErrNotLeader.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "not the raft leader (no leader known)"
	}
	return fmt.Sprintf("not the raft leader (leader is %s at %s)", e.LeaderID, e.LeaderAddr)
}

func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// ConflictError reports a failed compare-and-set with the resource's current
// state, so a client can re-read or retry with the right version.
type ConflictError struct {
	Type, ID string
	// Exists is false when the resource is absent (an Update or Delete of a
	// deleted resource with a non-zero expected version).
	Exists          bool
	CurrentVersion  uint64
	ExpectedVersion uint64
}

func (e *ConflictError) Error() string {
	if !e.Exists {
		return fmt.Sprintf("version conflict on %s/%s: expected version %d, resource does not exist", e.Type, e.ID, e.ExpectedVersion)
	}
	return fmt.Sprintf("version conflict on %s/%s: expected version %d, current version %d", e.Type, e.ID, e.ExpectedVersion, e.CurrentVersion)
}

func (e *ConflictError) Unwrap() error { return ErrConflict }

// CompactedError names the oldest revision a Watch can still start from.
type CompactedError struct {
	Requested uint64
	Oldest    uint64
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("revision %d compacted: oldest available revision is %d", e.Requested, e.Oldest)
}

func (e *CompactedError) Unwrap() error { return ErrCompacted }
