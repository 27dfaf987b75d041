package consensus

import (
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzFSMApply feeds arbitrary log entries to the FSM, after a valid one:
// decoding never panics; an entry that does not decode stops the FSM
// (ErrStopped, never a skipped entry); one that does re-encodes to an
// entry that decodes to the same command; and two replicas given the same
// entries end in the same state (the FSM is deterministic).
func FuzzFSMApply(f *testing.F) {
	for _, c := range []*command{
		{Op: opCreate, RequestID: "a", Type: "T", ID: "x", Spec: []byte(`{"n":1}`)},
		{Op: opUpdate, RequestID: "b", Type: "T", ID: "x", Spec: []byte(`2`), Expected: 1},
		{Op: opDelete, RequestID: "c", Type: "T", ID: "x", Expected: 2},
		{Op: opPut, RequestID: "a", Type: "T", ID: "y"},
	} {
		data, err := encodeCommand(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{commandFormat, 0, 0, 0, 0})
	f.Add([]byte{9, 1, 2, 3, 4, '{', '}'})
	first, err := encodeCommand(&command{Op: opCreate, RequestID: "seed", Type: "T", ID: "x", Spec: []byte(`1`)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		replicas := []*fsm{newFSM(100, 100), newFSM(100, 100)}
		var results []any
		for _, r := range replicas {
			r.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: first})
			results = append(results, r.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: data}))
		}
		cmd, derr := decodeCommand(data)
		res := results[0].(*applyResult)
		if derr != nil {
			if !errors.Is(res.err, ErrStopped) || replicas[0].fatal == nil {
				t.Fatalf("an entry that does not decode (%v) was applied: %+v", derr, res)
			}
		} else {
			again, err := encodeCommand(cmd)
			if err != nil {
				t.Fatalf("a decoded command does not encode: %v", err)
			}
			back, err := decodeCommand(again)
			if err != nil || !reflect.DeepEqual(cmd, back) {
				t.Fatalf("round trip: %+v → %+v (%v)", cmd, back, err)
			}
		}
		a, b := replicas[0], replicas[1]
		if a.revision != b.revision || a.applied != b.applied || !reflect.DeepEqual(a.resources, b.resources) ||
			(a.fatal == nil) != (b.fatal == nil) || !reflect.DeepEqual(results[0], results[1]) {
			t.Fatalf("two replicas diverged on the same entries")
		}
	})
}
