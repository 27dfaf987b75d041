package consensus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"
)

// The model: one register per key holding (exists, version, value), with
// put (unconditional), cas (Update with an expected version) and get.

type linInput struct {
	Op       string // "put", "cas", "get"
	Key      string
	Val      string
	Expected uint64
}

type linOutput struct {
	Unknown  bool // the write's outcome was never learned
	Conflict bool
	Exists   bool
	Version  uint64
	Val      string
}

type regState struct {
	Exists  bool
	Version uint64
	Val     string
}

func (s regState) written(val string) regState {
	return regState{Exists: true, Version: s.Version + 1, Val: val}
}

var registerModel = (&porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(linInput).Key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() []any { return []any{regState{}} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(regState), input.(linInput), output.(linOutput)
		switch in.Op {
		case "get":
			if out.Unknown {
				// A read that never got an answer (the client gave up,
				// which a leader kill on a loaded machine can cause)
				// observed nothing and changed nothing.
				return []any{s}
			}
			if out.Exists == s.Exists && (!s.Exists || (out.Version == s.Version && out.Val == s.Val)) {
				return []any{s}
			}
		case "put":
			if out.Unknown {
				return []any{s, s.written(in.Val)}
			}
			return []any{s.written(in.Val)}
		case "cas":
			applies := s.Exists && s.Version == in.Expected
			switch {
			case out.Unknown && applies:
				return []any{s, s.written(in.Val)}
			case out.Unknown:
				return []any{s}
			case out.Conflict && !applies && out.Exists == s.Exists && out.Version == s.Version:
				return []any{s}
			case !out.Conflict && applies:
				return []any{s.written(in.Val)}
			}
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		return fmt.Sprintf("%s(%s,%s,%d) -> %+v", in.Op, in.Key, in.Val, in.Expected, out)
	},
}).ToModel()

// linClient runs operations against whichever node currently leads,
// retrying writes with the same request ID until their outcome is known.
type linClient struct {
	id     int
	nodes  []*atomic.Pointer[Store]
	guess  int
	start  time.Time
	rng    *rand.Rand
	latest map[string]uint64 // last version seen per key, for CAS
}

func (c *linClient) now() int64 { return time.Since(c.start).Nanoseconds() }

// attempt runs fn on the guessed leader, moving the guess on failure.
// It returns fn's error when it is a definite answer.
func (c *linClient) attempt(fn func(s *Store) error) error {
	s := c.nodes[c.guess].Load()
	if s == nil {
		c.guess = (c.guess + 1) % len(c.nodes)
		return ErrStopped
	}
	err := fn(s)
	var nl *NotLeaderError
	switch {
	case errors.As(err, &nl) && nl.LeaderID != "":
		fmt.Sscanf(nl.LeaderID, "n%d", &c.guess)
		c.guess = (c.guess - 1 + len(c.nodes)) % len(c.nodes)
	case err != nil && !errors.Is(err, ErrConflict):
		c.guess = (c.guess + 1) % len(c.nodes)
	}
	return err
}

func definite(err error) bool { return err == nil || errors.Is(err, ErrConflict) }

func (c *linClient) run(deadline time.Time) []porcupine.Operation {
	var ops []porcupine.Operation
	for seq := 0; time.Now().Before(deadline); seq++ {
		key := []string{"a", "b", "c"}[c.rng.IntN(3)]
		in := linInput{Key: key, Val: fmt.Sprintf("c%d-%d", c.id, seq)}
		switch c.rng.IntN(3) {
		case 0:
			in.Op = "get"
		case 1:
			in.Op = "put"
		default:
			in.Op, in.Expected = "cas", max(c.latest[key], 1)
		}
		op := porcupine.Operation{ClientId: c.id, Input: in, Call: c.now()}
		op.Output, op.Return = c.do(in, time.Now().Add(3*time.Second))
		ops = append(ops, op)
	}
	return ops
}

// do runs one operation until it has a definite outcome or the give-up time
// passes. Reads that fail had no effect and are simply retried.
func (c *linClient) do(in linInput, giveUp time.Time) (linOutput, int64) {
	rid := NewRequestID()
	for time.Now().Before(giveUp) {
		var out linOutput
		err := c.attempt(func(s *Store) error {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			var res WriteResult
			var err error
			switch in.Op {
			case "get":
				var r Resource
				r, _, err = s.Get(ctx, "R", in.Key, Linearizable)
				if errors.Is(err, ErrNotFound) {
					return nil
				}
				out = linOutput{Exists: true, Version: r.Version, Val: string(r.Spec)}
				return err
			case "put":
				res, err = s.Put(ctx, "R", in.Key, []byte(in.Val), WithRequestID(rid))
			case "cas":
				res, err = s.Update(ctx, "R", in.Key, []byte(in.Val), in.Expected, WithRequestID(rid))
			}
			var ce *ConflictError
			if errors.As(err, &ce) {
				out = linOutput{Conflict: true, Exists: ce.Exists, Version: ce.CurrentVersion}
			} else if err == nil {
				out = linOutput{Exists: true, Version: res.Resource.Version, Val: in.Val}
			}
			return err
		})
		if definite(err) {
			if out.Exists {
				c.latest[in.Key] = out.Version
			}
			return out, c.now()
		}
	}
	return linOutput{Unknown: true}, math.MaxInt64
}

// TestLinearizableUnderLeaderKills: concurrent clients doing put/CAS/get on
// a 3-voter cluster whose leader is repeatedly killed and restarted; the
// recorded history must be linearizable.
func TestLinearizableUnderLeaderKills(t *testing.T) {
	c := newCluster(t, 3, nil)
	nodes := make([]*atomic.Pointer[Store], len(c.nodes))
	for i, nd := range c.nodes {
		nodes[i] = &atomic.Pointer[Store]{}
		nodes[i].Store(nd.store)
	}
	duration := 6 * time.Second
	if testing.Short() {
		duration = 2 * time.Second
	}
	start := time.Now()
	deadline := start.Add(duration)

	// Nemesis: kill the leader, restart it a little later, repeat.
	var kills atomic.Int32
	nemesisDone := make(chan struct{})
	go func() {
		defer close(nemesisDone)
		tick := time.NewTicker(700 * time.Millisecond)
		defer tick.Stop()
		for time.Now().Before(deadline.Add(-500 * time.Millisecond)) {
			<-tick.C
			for i, nd := range c.nodes {
				if s := nodes[i].Load(); s != nil && s.IsLeader() {
					nodes[i].Store(nil)
					_ = s.Close()
					<-tick.C
					s2, err := Open(c.config(nd))
					if err != nil {
						t.Errorf("restart %s: %v", nd.id, err)
						return
					}
					nd.store = s2
					nodes[i].Store(s2)
					kills.Add(1)
					break
				}
			}
		}
	}()

	var (
		mu      sync.Mutex
		history []porcupine.Operation
		wg      sync.WaitGroup
	)
	for id := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &linClient{id: id, nodes: nodes, start: start, rng: rand.New(rand.NewPCG(uint64(id), 7)), latest: map[string]uint64{}}
			ops := cl.run(deadline)
			mu.Lock()
			history = append(history, ops...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	<-nemesisDone

	unknown := 0
	for _, op := range history {
		if op.Output.(linOutput).Unknown {
			unknown++
		}
	}
	t.Logf("%d operations (%d with unknown outcome), %d leader kills", len(history), unknown, kills.Load())
	require.Positive(t, kills.Load(), "the nemesis never killed a leader")
	require.Greater(t, len(history), 100)

	res, info := porcupine.CheckOperationsVerbose(registerModel, history, 2*time.Minute)
	if res != porcupine.Ok {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("cairn-linearizability-%d.html", time.Now().UnixNano()))
		_ = porcupine.VisualizePath(registerModel, info, path)
		t.Fatalf("history is %s; visualization in %s", res, path)
	}
}

// TestLinearizabilityCheckerCatchesStaleReads is the negative control: a
// history recorded from real stale reads on a partitioned follower must be
// rejected by the same checker, so the test above can fail.
func TestLinearizabilityCheckerCatchesStaleReads(t *testing.T) {
	c := newCluster(t, 3, nil)
	lead := c.leader()
	ctx := ctxT(t)
	start := time.Now()
	now := func() int64 { return time.Since(start).Nanoseconds() }
	var history []porcupine.Operation
	record := func(in linInput, out linOutput, call int64) {
		history = append(history, porcupine.Operation{Input: in, Output: out, Call: call, Return: now()})
	}

	call := now()
	r1, err := lead.store.Put(ctx, "R", "a", []byte("v1"))
	require.NoError(t, err)
	record(linInput{Op: "put", Key: "a", Val: "v1"}, linOutput{Exists: true, Version: r1.Resource.Version, Val: "v1"}, call)
	c.waitConverged(r1.Revision)

	// Cut one follower off; the majority goes on writing.
	cut := c.followers(lead)[0]
	c.net.partition([]string{cut.addr})
	call = now()
	r2, err := lead.store.Put(ctx, "R", "a", []byte("v2"))
	require.NoError(t, err)
	record(linInput{Op: "put", Key: "a", Val: "v2"}, linOutput{Exists: true, Version: r2.Resource.Version, Val: "v2"}, call)

	// The cut-off follower refuses a linearizable read...
	_, _, err = cut.store.Get(ctx, "R", "a", Linearizable)
	require.ErrorIs(t, err, ErrNotLeader)

	// ...but a stale read returns the old value, after the new one was acknowledged.
	good := append([]porcupine.Operation(nil), history...)
	call = now()
	got, _, err := cut.store.Get(ctx, "R", "a", Stale)
	require.NoError(t, err)
	require.Equal(t, "v1", string(got.Spec))
	record(linInput{Op: "get", Key: "a"}, linOutput{Exists: true, Version: got.Version, Val: string(got.Spec)}, call)
	require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(registerModel, history, 10*time.Second),
		"the checker must reject a stale read")

	// The same sequence read linearizably from the leader checks out.
	call = now()
	got, _, err = lead.store.Get(ctx, "R", "a", Linearizable)
	require.NoError(t, err)
	good = append(good, porcupine.Operation{Input: linInput{Op: "get", Key: "a"}, Call: call, Return: now(),
		Output: linOutput{Exists: true, Version: got.Version, Val: string(got.Spec)}})
	require.Equal(t, porcupine.Ok, porcupine.CheckOperationsTimeout(registerModel, good, 10*time.Second))
	c.net.heal()
}

// TestModelAcceptsUnansweredRead: a read whose client gave up observed
// nothing, so it is legal whatever the register holds; only answered reads
// are checked. (Under a CPU hog a read could time out across a leader kill,
// and the model used to reject the history for it.)
func TestModelAcceptsUnansweredRead(t *testing.T) {
	history := []porcupine.Operation{
		{ClientId: 0, Input: linInput{Op: "put", Key: "a", Val: "v1"}, Output: linOutput{Exists: true, Version: 1, Val: "v1"}, Call: 0, Return: 10},
		{ClientId: 1, Input: linInput{Op: "get", Key: "a"}, Output: linOutput{Unknown: true}, Call: 20, Return: math.MaxInt64},
	}
	require.True(t, porcupine.CheckOperations(registerModel, history))

	// The same read answered "absent" after the put returned is stale.
	history[1].Output, history[1].Return = linOutput{}, 30
	require.False(t, porcupine.CheckOperations(registerModel, history))
}
