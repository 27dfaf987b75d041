package etcdboot

import (
	"errors"
	"fmt"

	"github.com/cairn-project/cairn/consensus"
)

var (
	// ErrNotDecided is returned by Get and Recover while no bootstrap record
	// exists: no etcd member may start with initial-cluster-state=new yet.
	ErrNotDecided = errors.New("etcd bootstrap not decided yet")

	// ErrInvalid is returned by Decide and Recover for a member list that
	// could not start an etcd cluster (empty, duplicate names, bad peer URL);
	// nothing is written.
	ErrInvalid = errors.New("invalid etcd bootstrap members")
)

// ExistsError is returned by Decide when a bootstrap record already exists
// (decided earlier, by this node or another): Record is the stored one, which
// every caller must use instead of its own proposal.
type ExistsError struct {
	Record Record
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("etcd bootstrap already decided: generation %d by %s", e.Record.Generation, e.Record.DecidedBy)
}

// Unwrap lets errors.Is(err, consensus.ErrConflict) hold, as for every failed
// compare-and-set.
func (e *ExistsError) Unwrap() error { return consensus.ErrConflict }

// StaleGenerationError is returned by Recover when the stored record is no
// longer at the generation the caller expected: another recovery won, and
// Current is the record it wrote. Nothing is written.
type StaleGenerationError struct {
	Expected uint64
	Current  Record
}

func (e *StaleGenerationError) Error() string {
	return fmt.Sprintf("etcd bootstrap generation conflict: expected %d, current %d", e.Expected, e.Current.Generation)
}

// Unwrap lets errors.Is(err, consensus.ErrConflict) hold.
func (e *StaleGenerationError) Unwrap() error { return consensus.ErrConflict }
