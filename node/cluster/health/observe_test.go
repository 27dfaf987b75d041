package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/node/cluster/config"
	clusterv1 "github.com/cairn-project/cairn/proto/gen/cairn/cluster/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeCluster is a Source over an in-memory cluster whose every node sees
// the same members. A hung node never answers: its calls end only when
// their context does, as a paused node's would.
type fakeCluster struct {
	config    string
	revision  uint64
	members   []*clusterv1.Member
	consensus map[string]*clusterv1.ConsensusStatusResponse
	hung      map[string]bool

	mu    sync.Mutex
	asked []string // "Members node stale" and "ConsensusStatus node", as asked
}

func newFakeCluster(t *testing.T) *fakeCluster {
	t.Helper()
	cfg, err := config.Generate(config.GenerateOptions{ClusterName: "health", ControlPlanes: 2, Workers: 1})
	require.NoError(t, err)
	red := cfg.Redacted()
	doc, err := red.Marshal(false)
	require.NoError(t, err)
	f := &fakeCluster{config: string(doc), revision: 5, hung: map[string]bool{}, consensus: map[string]*clusterv1.ConsensusStatusResponse{}}
	f.members = []*clusterv1.Member{
		member("cp1", true, alive, 5, true), member("cp2", true, alive, 5, false), member("worker1", false, alive, 5, false),
	}
	for _, n := range []string{"cp1", "cp2"} {
		f.consensus[n] = &clusterv1.ConsensusStatusResponse{NodeName: n, LeaderName: "cp1", Term: 2, State: "Follower"}
	}
	f.consensus["cp1"].State = "Leader"
	f.consensus["cp1"].Servers = []*clusterv1.RaftServer{raftServer("cp1", voter, true), raftServer("cp2", voter, true)}
	return f
}

func (f *fakeCluster) ask(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, fmt.Sprintf(format, args...))
}

func (f *fakeCluster) wait(ctx context.Context, node string) error {
	if !f.hung[node] {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeCluster) Config(context.Context) (*clusterv1.GetConfigResponse, error) {
	return &clusterv1.GetConfigResponse{Config: f.config, Revision: f.revision}, nil
}

func (f *fakeCluster) Members(ctx context.Context, node string, stale bool) (*clusterv1.MembersResponse, error) {
	f.ask("Members %s %t", node, stale)
	if err := f.wait(ctx, node); err != nil {
		return nil, err
	}
	return &clusterv1.MembersResponse{Members: f.members}, nil
}

func (f *fakeCluster) ConsensusStatus(ctx context.Context, node string) (*clusterv1.ConsensusStatusResponse, error) {
	f.ask("ConsensusStatus %s", node)
	if err := f.wait(ctx, node); err != nil {
		return nil, err
	}
	return f.consensus[node], nil
}

func (f *fakeCluster) NodeStatus(ctx context.Context, node, typ, id string) ([]byte, error) {
	f.ask("%s %s", typ, node)
	if err := f.wait(ctx, node); err != nil {
		return nil, err
	}
	switch typ + "/" + id {
	case "EtcdStatus/etcd":
		return []byte("phase: member\nhealthy: true\nclusterID: c1\nmembers: 2\n"), nil
	case "KubernetesStatus/kubernetes":
		return []byte("phase: running\nhealthy: true\n"), nil
	}
	return nil, nil
}

func TestObserveAsksEveryAliveMemberAndEveryControlPlane(t *testing.T) {
	f := newFakeCluster(t)
	o := Observe(context.Background(), f, time.Minute)

	require.NoError(t, o.ConfigErr)
	assert.Equal(t, []string{"cp1", "cp2", "worker1"}, o.Expected)
	assert.Equal(t, []string{"cp1", "cp2"}, o.ControlPlanes)
	assert.ElementsMatch(t, []string{
		"Members  false",
		"Members cp1 true", "Members cp2 true", "Members worker1 true",
		"ConsensusStatus cp1", "ConsensusStatus cp2",
		"EtcdStatus cp1", "EtcdStatus cp2",
		"KubernetesStatus cp1", "KubernetesStatus cp2",
	}, f.asked)
	checks := Evaluate(o)
	assert.True(t, Healthy(checks), "%v", checks)
	assert.Equal(t, "cp1 leads term 2 with a quorum: 2 of 2 voters follow it", checks[1].Detail)
}

// A node that never answers costs one request timeout and is named; it
// does not stall the observation.
func TestObserveBoundsEachRequest(t *testing.T) {
	f := newFakeCluster(t)
	f.hung["cp2"] = true
	o := Observe(context.Background(), f, 50*time.Millisecond)

	require.ErrorIs(t, o.Views["cp2"].Err, context.DeadlineExceeded)
	require.ErrorIs(t, o.Consensus["cp2"].Err, context.DeadlineExceeded)
	require.NoError(t, o.Views["cp1"].Err)
	checks := Evaluate(o)
	assert.False(t, checks[0].OK)
	assert.Equal(t, []string{"cp2"}, checks[0].Nodes)
	assert.Contains(t, checks[1].Detail, "no answer from cp2 (context deadline exceeded)")
}

// The caller's deadline leaves room for both rounds of requests: each gets
// at most half of what is left.
func TestObserveFitsTheCallersDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deadline, _ := ctx.Deadline()
	spy := &deadlineSpy{Source: newFakeCluster(t), node: "worker1"}
	o := Observe(ctx, spy, time.Hour)

	require.ErrorIs(t, o.Views["worker1"].Err, errSpied)
	require.False(t, spy.seen.IsZero(), "the request has no deadline")
	assert.False(t, spy.seen.After(deadline.Add(-29*time.Second)), "a request's deadline %s is past half of the call's %s", spy.seen, deadline)
}

var errSpied = errors.New("spied")

// deadlineSpy records the deadline of node's stale Members call and fails
// it.
type deadlineSpy struct {
	Source
	node string
	seen time.Time
}

func (d *deadlineSpy) Members(ctx context.Context, node string, stale bool) (*clusterv1.MembersResponse, error) {
	if node != d.node {
		return d.Source.Members(ctx, node, stale)
	}
	d.seen, _ = ctx.Deadline()
	return nil, errSpied
}
