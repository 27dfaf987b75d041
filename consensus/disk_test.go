package consensus

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// singleNode starts a one-voter cluster, runs fn against its leader, and
// stops it, leaving its data directory for the test to damage.
func singleNode(t *testing.T, fn func(s *Store)) (*testCluster, *testNode) {
	t.Helper()
	c := newCluster(t, 1, nil)
	nd := c.nodes[0]
	fn(c.leader().store)
	c.stop(nd)
	return c, nd
}

func TestOpenRefusesUnknownCommandInLog(t *testing.T) {
	c, nd := singleNode(t, func(s *Store) {
		_, err := s.Put(ctxT(t), "T", "x", []byte("1"))
		require.NoError(t, err)
	})
	path := filepath.Join(nd.dir, logFile)
	b, err := raftboltdb.NewBoltStore(path)
	require.NoError(t, err)
	last, err := b.LastIndex()
	require.NoError(t, err)
	var prev raft.Log
	require.NoError(t, b.GetLog(last, &prev))
	data, err := encodeCommand(&command{Op: 99, RequestID: "future", Type: "T", ID: "x"})
	require.NoError(t, err)
	require.NoError(t, b.StoreLog(&raft.Log{Index: last + 1, Term: prev.Term, Type: raft.LogCommand, Data: data}))
	require.NoError(t, b.Close())

	_, err = Open(c.config(nd))
	require.ErrorIs(t, err, ErrUnknownCommand)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "command type 99")
	assert.Contains(t, err.Error(), "log index")
}

func TestOpenRefusesCorruptLogEntry(t *testing.T) {
	marker := []byte("corrupt-me-0123456789abcdef")
	c, nd := singleNode(t, func(s *Store) {
		// Specs are base64 in the JSON encoding; an ID is stored as is.
		_, err := s.Put(ctxT(t), "T", string(marker), nil)
		require.NoError(t, err)
	})
	path := filepath.Join(nd.dir, logFile)
	flipAll(t, path, marker)

	_, err := Open(c.config(nd))
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), path)
	assert.Contains(t, err.Error(), "checksum")
}

func TestOpenRefusesCorruptSnapshot(t *testing.T) {
	c, nd := singleNode(t, func(s *Store) {
		for range 10 {
			_, err := s.Put(ctxT(t), "T", "snapshotted-id", nil)
			require.NoError(t, err)
		}
		require.NoError(t, s.Snapshot())
	})
	files, err := filepath.Glob(filepath.Join(nd.dir, snapshotDir, "*", "state.bin"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	flipAll(t, files[0], []byte("snapshotted-id"))

	_, err = Open(c.config(nd))
	require.ErrorIs(t, err, ErrCorrupt)
	assert.Contains(t, err.Error(), files[0])
}

// TestUnknownCommandStopsRunningNode: a committed entry this build cannot
// apply stops the node instead of being skipped, and the node then refuses
// to start until a build that knows it runs.
func TestUnknownCommandStopsRunningNode(t *testing.T) {
	c := newCluster(t, 1, nil)
	nd := c.nodes[0]
	s := c.leader().store
	_, err := s.Put(ctxT(t), "T", "x", []byte("1"))
	require.NoError(t, err)

	data, err := encodeCommand(&command{Op: 42, RequestID: "x", Type: "T", ID: "x"})
	require.NoError(t, err)
	require.NoError(t, s.raft.Apply(data, 0).Error())
	require.Eventually(t, func() bool { return s.Err() != nil }, 5e9, 1e7)
	require.ErrorIs(t, s.Err(), ErrUnknownCommand)
	_, err = s.Put(ctxT(t), "T", "y", nil)
	require.ErrorIs(t, err, ErrStopped)
	c.stop(nd)

	_, err = Open(c.config(nd))
	require.ErrorIs(t, err, ErrUnknownCommand)
	assert.Contains(t, err.Error(), filepath.Join(nd.dir, logFile))
}

// flipAll flips one bit in every occurrence of marker in the file.
func flipAll(t *testing.T, path string, marker []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	n := 0
	for i := 0; ; {
		j := bytes.Index(raw[i:], marker)
		if j < 0 {
			break
		}
		raw[i+j+len(marker)/2] ^= 0x01
		i += j + len(marker)
		n++
	}
	require.Positive(t, n, "marker not found in %s", path)
	require.NoError(t, os.WriteFile(path, raw, 0o600))
}
