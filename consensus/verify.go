package consensus

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// verifyDisk checks, before Raft starts, that every snapshot and every log
// entry can be applied by this build. Raft on its own would fall back to an
// older snapshot when the newest is damaged, or crash mid-replay on a bad
// entry; refusing to start with the file and entry named is better for the
// operator and keeps the replica from diverging.
func verifyDisk(dir string, logs *raftboltdb.BoltStore, snaps *raft.FileSnapshotStore) error {
	metas, err := snaps.List()
	if err != nil {
		return fmt.Errorf("list snapshots in %s: %w", filepath.Join(dir, snapshotDir), err)
	}
	for _, m := range metas {
		file := filepath.Join(dir, snapshotDir, m.ID, "state.bin")
		if err := verifySnapshot(snaps, m.ID); err != nil {
			return fmt.Errorf("refusing to start: %s: %w", file, err)
		}
	}
	return verifyLog(filepath.Join(dir, logFile), logs)
}

func verifySnapshot(snaps *raft.FileSnapshotStore, id string) error {
	// FileSnapshotStore.Open checks the CRC-64 recorded in meta.json.
	_, rc, err := snaps.Open(id)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	defer rc.Close()
	_, err = readSnapshot(rc)
	return err
}

func verifyLog(path string, logs *raftboltdb.BoltStore) error {
	first, err := logs.FirstIndex()
	if err != nil {
		return fmt.Errorf("refusing to start: %s: %w: read first index: %v", path, ErrCorrupt, err)
	}
	last, err := logs.LastIndex()
	if err != nil {
		return fmt.Errorf("refusing to start: %s: %w: read last index: %v", path, ErrCorrupt, err)
	}
	if first == 0 {
		return nil
	}
	var l raft.Log
	for i := first; i <= last; i++ {
		if err := logs.GetLog(i, &l); err != nil {
			if errors.Is(err, raft.ErrLogNotFound) {
				return fmt.Errorf("refusing to start: %s: %w: log index %d missing (log holds %d..%d)", path, ErrCorrupt, i, first, last)
			}
			return fmt.Errorf("refusing to start: %s: %w: log index %d: %v", path, ErrCorrupt, i, err)
		}
		if l.Type != raft.LogCommand {
			continue
		}
		if _, err := decodeCommand(l.Data); err != nil {
			return fmt.Errorf("refusing to start: %s: log index %d: %w", path, i, err)
		}
	}
	return nil
}
