package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// applyCmd runs one command through the FSM at the given index.
func applyCmd(t *testing.T, f *fsm, idx uint64, c *command) *applyResult {
	t.Helper()
	data, err := encodeCommand(c)
	require.NoError(t, err)
	return f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}).(*applyResult)
}

func TestFSMCreateUpdateDelete(t *testing.T) {
	f := newFSM(100, 100)
	r := applyCmd(t, f, 1, &command{Op: opCreate, RequestID: "a", Type: "T", ID: "x", Spec: []byte(`1`)})
	require.NoError(t, r.err)
	assert.Equal(t, uint64(1), r.res.Revision)
	assert.Equal(t, uint64(1), r.res.Resource.Version)
	assert.False(t, r.res.Duplicate)

	r = applyCmd(t, f, 2, &command{Op: opUpdate, RequestID: "b", Type: "T", ID: "x", Spec: []byte(`2`), Expected: 1})
	require.NoError(t, r.err)
	assert.Equal(t, uint64(2), r.res.Resource.Version)
	assert.Equal(t, uint64(1), r.res.Resource.CreateRevision)
	assert.Equal(t, uint64(2), r.res.Resource.UpdateRevision)

	got, rev := f.get("T", "x")
	require.NotNil(t, got)
	assert.Equal(t, []byte(`2`), got.Spec)
	assert.Equal(t, uint64(2), rev)

	r = applyCmd(t, f, 3, &command{Op: opDelete, RequestID: "c", Type: "T", ID: "x", Expected: 2})
	require.NoError(t, r.err)
	got, rev = f.get("T", "x")
	assert.Nil(t, got)
	assert.Equal(t, uint64(3), rev)

	r = applyCmd(t, f, 4, &command{Op: opDelete, RequestID: "d", Type: "T", ID: "x"})
	require.ErrorIs(t, r.err, ErrNotFound)
	assert.Equal(t, uint64(3), f.revision, "a failed write does not advance the revision")
}

func TestFSMConflictsReturnCurrentVersion(t *testing.T) {
	f := newFSM(100, 100)
	require.NoError(t, applyCmd(t, f, 1, &command{Op: opPut, RequestID: "1", Type: "T", ID: "x"}).err)
	require.NoError(t, applyCmd(t, f, 2, &command{Op: opPut, RequestID: "2", Type: "T", ID: "x"}).err)

	for name, c := range map[string]*command{
		"create existing":     {Op: opCreate, RequestID: "3", Type: "T", ID: "x"},
		"update stale":        {Op: opUpdate, RequestID: "4", Type: "T", ID: "x", Expected: 1},
		"delete stale":        {Op: opDelete, RequestID: "5", Type: "T", ID: "x", Expected: 7},
		"update from version": {Op: opUpdate, RequestID: "6", Type: "T", ID: "x", Expected: 3},
	} {
		t.Run(name, func(t *testing.T) {
			r := applyCmd(t, f, 3, c)
			var ce *ConflictError
			require.ErrorAs(t, r.err, &ce)
			require.ErrorIs(t, r.err, ErrConflict)
			assert.True(t, ce.Exists)
			assert.Equal(t, uint64(2), ce.CurrentVersion)
			assert.Equal(t, c.Expected, ce.ExpectedVersion)
		})
	}
	r := applyCmd(t, f, 4, &command{Op: opUpdate, RequestID: "7", Type: "T", ID: "missing", Expected: 4})
	var ce *ConflictError
	require.ErrorAs(t, r.err, &ce)
	assert.False(t, ce.Exists)
	assert.Equal(t, uint64(2), f.revision)
}

func TestFSMDeduplicatesRequestIDs(t *testing.T) {
	f := newFSM(100, 3)
	c := &command{Op: opUpdate, RequestID: "same", Type: "T", ID: "x", Spec: []byte(`v`), Expected: 0}
	require.NoError(t, applyCmd(t, f, 1, &command{Op: opCreate, RequestID: "c", Type: "T", ID: "x"}).err)
	c.Expected = 1
	first := applyCmd(t, f, 2, c)
	require.NoError(t, first.err)
	again := applyCmd(t, f, 3, c)
	require.NoError(t, again.err, "a retry of an applied CAS is answered, not re-run (which would conflict)")
	assert.True(t, again.res.Duplicate)
	assert.Equal(t, first.res.Revision, again.res.Revision)
	assert.Equal(t, first.res.Resource, again.res.Resource)
	assert.Equal(t, uint64(2), f.revision)

	reused := applyCmd(t, f, 4, &command{Op: opPut, RequestID: "same", Type: "T", ID: "y"})
	require.ErrorIs(t, reused.err, ErrRequestIDReused)

	// The window is bounded: after 3 more requests, "same" is forgotten and
	// the command runs again (and now conflicts).
	for i := range 3 {
		require.NoError(t, applyCmd(t, f, uint64(5+i), &command{Op: opPut, RequestID: fmt.Sprint("p", i), Type: "T", ID: "z"}).err)
	}
	assert.Len(t, f.dedup, 3)
	late := applyCmd(t, f, 9, c)
	require.ErrorIs(t, late.err, ErrConflict)
}

// TestFSMSnapshotDeterministic applies one random command sequence to two
// FSMs in different map states and checks byte-identical snapshots, and that
// a restored FSM snapshots to the same bytes again.
func TestFSMSnapshotDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var log []*command
	for i := range 2000 {
		c := &command{RequestID: fmt.Sprint("r", i), Type: fmt.Sprint("T", rng.IntN(3)), ID: fmt.Sprint("id", rng.IntN(50))}
		switch rng.IntN(4) {
		case 0:
			c.Op = opCreate
		case 1:
			c.Op, c.Expected = opUpdate, uint64(rng.IntN(4))
		case 2:
			c.Op, c.Expected = opDelete, uint64(rng.IntN(3))
		default:
			c.Op = opPut
		}
		c.Spec = []byte(fmt.Sprint(rng.Int()))
		log = append(log, c)
	}
	a, b := newFSM(500, 700), newFSM(500, 700)
	for i, c := range log {
		applyCmd(t, a, uint64(i+1), c)
		applyCmd(t, b, uint64(i+1), c)
	}
	sa, sb := snapshotBytes(t, a), snapshotBytes(t, b)
	require.Equal(t, sa, sb)

	c := newFSM(500, 700)
	require.NoError(t, c.Restore(io.NopCloser(bytes.NewReader(sa))))
	require.Equal(t, sa, snapshotBytes(t, c))
	assert.Equal(t, a.revision, c.revision)
	assert.Equal(t, a.applied, c.applied)

	// The restored FSM continues exactly like the original.
	next := &command{Op: opPut, RequestID: "after", Type: "T0", ID: "id0", Spec: []byte("x")}
	ra, rc := applyCmd(t, a, 5000, next), applyCmd(t, c, 5000, next)
	require.Equal(t, ra.res, rc.res)
	require.Equal(t, snapshotBytes(t, a), snapshotBytes(t, c))
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { m.cancelled = true; return nil }
func (m *memSink) Close() error  { return nil }

func snapshotBytes(t *testing.T, f *fsm) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	require.NoError(t, err)
	var sink memSink
	require.NoError(t, snap.Persist(&sink))
	return sink.Bytes()
}

func TestFSMRejectsDamagedSnapshot(t *testing.T) {
	f := newFSM(10, 10)
	applyCmd(t, f, 1, &command{Op: opPut, RequestID: "a", Type: "T", ID: "x", Spec: []byte("hello")})
	good := snapshotBytes(t, f)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0xff
	err := newFSM(10, 10).Restore(io.NopCloser(bytes.NewReader(bad)))
	require.ErrorIs(t, err, ErrCorrupt)
	err = newFSM(10, 10).Restore(io.NopCloser(bytes.NewReader(good[:20])))
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestFSMStopsOnUnknownCommand(t *testing.T) {
	f := newFSM(10, 10)
	var reported []error
	f.onFatal = func(err error) { reported = append(reported, err) }
	data, err := encodeCommand(&command{Op: 99, RequestID: "x", Type: "T", ID: "x"})
	require.NoError(t, err)
	r := f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: data}).(*applyResult)
	require.ErrorIs(t, r.err, ErrUnknownCommand)
	require.ErrorContains(t, r.err, "log index 7")
	// Nothing after it is applied: the replica stays at the last good state.
	r = applyCmd(t, f, 8, &command{Op: opPut, RequestID: "y", Type: "T", ID: "y"})
	require.ErrorIs(t, r.err, ErrStopped)
	assert.Zero(t, f.revision)
	require.Len(t, reported, 1, "the store is told once")
	assert.True(t, errors.Is(reported[0], ErrUnknownCommand))
}

func TestWatchHistoryCompaction(t *testing.T) {
	f := newFSM(5, 100)
	for i := range 10 {
		applyCmd(t, f, uint64(i+1), &command{Op: opPut, RequestID: fmt.Sprint(i), Type: fmt.Sprint("T", i%2), ID: "x"})
	}
	_, _, _, err := f.eventsFrom("", 3)
	var ce *CompactedError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, uint64(6), ce.Oldest)
	assert.Contains(t, err.Error(), "oldest available revision is 6")

	evs, next, _, err := f.eventsFrom("T1", 6)
	require.NoError(t, err)
	assert.Equal(t, uint64(11), next)
	var revs []uint64
	for _, e := range evs {
		revs = append(revs, e.Revision)
	}
	assert.Equal(t, []uint64{6, 8, 10}, revs)
}
