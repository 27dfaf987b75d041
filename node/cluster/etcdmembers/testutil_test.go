package etcdmembers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/consensus"
	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/cluster/etcdboot"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*deferError).Error"),
		// grpc's and etcd's client background goroutines end shortly after
		// Close; the ones below are the process-wide ones.
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc.(*addrConn).resetTransportAndUnlock"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*http2Client).keepalive"),
	)
}

// openStore starts a one-voter Raft store on loopback that leads and
// serves linearizable reads (testutil.OpenStore).
func openStore(t testing.TB) *consensus.Store { return testutil.OpenStore(t) }

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// view is a settable cluster view, as the lead wires it from gossip and the
// stored config.
type view struct {
	mu    sync.Mutex
	nodes map[string]Node
	ok    bool
}

func newView(nodes ...Node) *view {
	v := &view{nodes: map[string]Node{}, ok: true}
	for _, n := range nodes {
		v.nodes[n.Name] = n
	}
	return v
}

func (v *view) get(context.Context) (map[string]Node, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.nodes), v.ok
}

func (v *view) set(n Node) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.nodes[n.Name] = n
}

func (v *view) drop(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.nodes, name)
}

func (v *view) setKnown(ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ok = ok
}

// node is a control plane on its own loopback address.
func node(name, stateID, ip string) Node {
	return Node{Name: name, StateID: stateID, PeerURL: "https://" + ip + ":2380", ClientURL: "https://" + ip + ":2379", Alive: true}
}

// env is one test's store, fake etcd, view and clock.
type env struct {
	t     testing.TB
	store *consensus.Store
	etcd  *fakeEtcd
	view  *view
	now   time.Time
}

func newEnv(t testing.TB, nodes ...Node) *env {
	return &env{t: t, store: openStore(t), etcd: newFakeEtcd(), view: newView(nodes...), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// errCrash is what a fault point panics with to stop a pass where a
// killed leader would stop.
var errCrash = errors.New("test: leader killed at fault point")

// coordinator is a leader's coordinator on the env's store; crashAt names a
// fault point where its pass stops, as if the leader was killed there.
func (e *env) coordinator(self Node, crashAt string) *Coordinator {
	e.t.Helper()
	return e.coordinatorOn(e.store, self, crashAt)
}

func (e *env) coordinatorOn(s Store, self Node, crashAt string) *Coordinator {
	e.t.Helper()
	c, err := New(Config{
		Store: s, Self: self, View: e.view.get, Dial: e.etcd.dial,
		DeadGrace: 30 * time.Second, LearnerStartTimeout: time.Minute, CallTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Fault: func(point string) {
			if point == crashAt {
				panic(errCrash)
			}
		},
	})
	require.NoError(e.t, err)
	c.now = func() time.Time { return e.now }
	return c
}

// pass runs one pass; a crash at a fault point is reported as errCrash.
func (e *env) pass(c *Coordinator) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r != errCrash {
				panic(r)
			}
			err = errCrash
		}
	}()
	return c.pass(ctxT(e.t))
}

// settle runs passes until one changes nothing (at most n).
func (e *env) settle(c *Coordinator, n int) Record {
	e.t.Helper()
	prev := e.record().Version
	for range n {
		require.NoError(e.t, e.pass(c))
		rec := e.record()
		if rec.Version == prev {
			return rec
		}
		prev = rec.Version
	}
	e.t.Fatalf("no fixed point after %d passes", n)
	return Record{}
}

func (e *env) record() Record {
	e.t.Helper()
	rec, err := Get(ctxT(e.t), e.store)
	require.NoError(e.t, err)
	return rec
}

func (e *env) boot() etcdboot.Record {
	e.t.Helper()
	rec, err := etcdboot.Get(ctxT(e.t), e.store)
	require.NoError(e.t, err)
	return rec
}

// bootstrapped is an env whose coordinator decided with cp1 and whose cp1
// started etcd as new, with its ID observed; the other nodes are in the
// view from then on, no change made for them yet.
func bootstrapped(t testing.TB, nodes ...Node) (*env, *Coordinator) {
	t.Helper()
	self := nodes[0]
	e := newEnv(t, self)
	c := e.coordinator(self, "")
	require.ErrorIs(t, e.pass(c), errUnavailable, "etcd is not started yet")
	e.etcd.bootstrap(self.Name, self.PeerURL, self.ClientURL)
	require.NoError(t, e.pass(c))
	require.NotZero(t, e.record().Members[0].ID)
	for _, n := range nodes[1:] {
		e.view.set(n)
	}
	return e, c
}

// voters and learners name the record's members of each kind.
func kinds(rec Record) (voters, learners []string) {
	for _, m := range rec.Members {
		if m.Learner {
			learners = append(learners, m.Name)
		} else {
			voters = append(voters, m.Name)
		}
	}
	return voters, learners
}

// dropAcks applies every write for real and reports the outcome of up to
// n Updates as unknown, as a leader that lost leadership right after the
// commit would; the retry after a dropped ack is answered.
type dropAcks struct {
	*consensus.Store
	n       int
	dropped int
	last    bool // the previous Update's ack was dropped
}

func (d *dropAcks) Update(ctx context.Context, typ, id string, spec []byte, expected uint64, opts ...consensus.WriteOption) (consensus.WriteResult, error) {
	w, err := d.Store.Update(ctx, typ, id, spec, expected, opts...)
	if d.last {
		d.last = false
		return w, err
	}
	if err == nil && d.dropped < d.n {
		d.dropped++
		d.last = true
		return consensus.WriteResult{}, fmt.Errorf("test: ack dropped: %w", consensus.ErrOutcomeUnknown)
	}
	return w, err
}
