package consensus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/hashicorp/raft"
)

// WriteOption adjusts one write.
type WriteOption func(*command)

// WithRequestID sets the write's request ID. A write retried with the same
// ID (after ErrOutcomeUnknown, a timeout or a leader change) is applied at
// most once: the retry returns the first outcome, marked Duplicate. IDs are
// remembered for the last Config.DedupWindow writes. Without this option a
// random ID is used, which protects only against raft-internal replays.
func WithRequestID(id string) WriteOption { return func(c *command) { c.RequestID = id } }

// NewRequestID returns a random request ID for a client to reuse on retries.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Create adds a resource at version 1. It fails with a *ConflictError if the
// resource exists.
func (s *Store) Create(ctx context.Context, typ, id string, spec []byte, opts ...WriteOption) (WriteResult, error) {
	return s.write(ctx, &command{Op: opCreate, Type: typ, ID: id, Spec: spec}, opts)
}

// Update replaces a resource's spec if its version is still expectedVersion
// (compare-and-set); otherwise it fails with a *ConflictError carrying the
// current version. Updating a missing resource fails with ErrNotFound when
// expectedVersion is 0 and with a *ConflictError otherwise.
func (s *Store) Update(ctx context.Context, typ, id string, spec []byte, expectedVersion uint64, opts ...WriteOption) (WriteResult, error) {
	return s.write(ctx, &command{Op: opUpdate, Type: typ, ID: id, Spec: spec, Expected: expectedVersion}, opts)
}

// Put creates or replaces a resource without a version check.
func (s *Store) Put(ctx context.Context, typ, id string, spec []byte, opts ...WriteOption) (WriteResult, error) {
	return s.write(ctx, &command{Op: opPut, Type: typ, ID: id, Spec: spec}, opts)
}

// Delete removes a resource if its version is expectedVersion, or whatever
// its version when expectedVersion is 0.
func (s *Store) Delete(ctx context.Context, typ, id string, expectedVersion uint64, opts ...WriteOption) (WriteResult, error) {
	return s.write(ctx, &command{Op: opDelete, Type: typ, ID: id, Expected: expectedVersion}, opts)
}

func (s *Store) write(ctx context.Context, cmd *command, opts []WriteOption) (WriteResult, error) {
	for _, o := range opts {
		o(cmd)
	}
	if cmd.Type == "" || cmd.ID == "" {
		return WriteResult{}, fmt.Errorf("%w: resource type and id must not be empty", ErrInvalid)
	}
	if cmd.RequestID == "" {
		cmd.RequestID = NewRequestID()
	}
	if err := s.alive(); err != nil {
		return WriteResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return WriteResult{}, err
	}
	data, err := encodeCommand(cmd)
	if err != nil {
		return WriteResult{}, err
	}
	f := s.raft.Apply(data, s.timeoutFor(ctx))
	if err := s.awaitApply(f); err != nil {
		return WriteResult{}, err
	}
	res, ok := f.Response().(*applyResult)
	if !ok {
		return WriteResult{}, fmt.Errorf("unexpected apply response %T", f.Response())
	}
	if res.err == nil && s.dropNextAck.CompareAndSwap(true, false) {
		return WriteResult{}, fmt.Errorf("%w: fault point dropNextAck", ErrOutcomeUnknown)
	}
	return res.res, res.err
}

// RecallUpdate returns the result of an earlier Update of typ/id to spec made
// with requestID, if the store still remembers it (Config.DedupWindow), as
// seen after a linearizable read barrier. It lets a caller that validates
// against the current state (an expected revision, a diff) recognise a retry
// of a write that already happened — the write whose outcome the first
// attempt could not learn (ErrOutcomeUnknown) — and answer with the original
// result instead of a conflict with itself. A request ID recorded for a
// different command fails with ErrRequestIDReused; an ID recorded for a
// write that did not succeed, or not recorded at all, returns false.
func (s *Store) RecallUpdate(ctx context.Context, requestID, typ, id string, spec []byte) (WriteResult, bool, error) {
	if requestID == "" {
		return WriteResult{}, false, nil
	}
	if err := s.readBarrier(ctx, Linearizable); err != nil {
		return WriteResult{}, false, err
	}
	return s.fsm.recallUpdate(requestID, typ, id, spec)
}

// awaitApply waits for an apply future or for the store to stop. raft does
// not answer a future whose entry is committed but not yet handed to the
// FSM when it shuts down (hashicorp/raft#498), so waiting on the future
// alone can block a writer forever after Close. The entry may have been
// committed, so a stop leaves the outcome unknown.
func (s *Store) awaitApply(f raft.ApplyFuture) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return s.mapRaftErr(err)
		}
		return nil
	case <-s.stopCh:
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, s.alive())
	}
}
