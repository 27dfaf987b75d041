package node

import "errors"

// ErrStorageFault is returned by Run when the node's Raft store stopped on a
// fatal storage fault (a failed log write, a committed entry it cannot
// apply, a snapshot it cannot restore; consensus.Store.Err names which).
// The node stops instead of serving from a replica that can no longer
// follow the log; cairnd exits non-zero, so its boot stage restarts it and
// the store recovers from disk, or refuses to open, naming the corrupt file.
var ErrStorageFault = errors.New("storage fault: the raft store stopped")
