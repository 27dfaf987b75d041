package controllers

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/cairn-project/cairn/internal/testutil"
	"github.com/cairn-project/cairn/node/cluster/config"
	"github.com/cairn-project/cairn/node/machine/network"
	"github.com/cairn-project/cairn/node/runtime"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testutil.SpawnerLeak) }

// start runs only the controllers under test, Talos-style: tests feed
// input resources and wait for outputs.
func start(t *testing.T, st *runtime.State, cs ...runtime.Controller) *runtime.Runtime {
	t.Helper()
	return startWith(t, st, nil, cs...)
}

// startWith is start with sources too, registered before the runtime runs.
func startWith(t *testing.T, st *runtime.State, sources []runtime.Source, cs ...runtime.Controller) *runtime.Runtime {
	t.Helper()
	rt := runtime.New(st, runtime.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BackoffInitial: 10 * time.Millisecond})
	for _, c := range cs {
		require.NoError(t, rt.Register(c))
	}
	for _, s := range sources {
		require.NoError(t, rt.RegisterSource(s))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return rt
}

// waitPass waits until a pass of the named controller that read every write
// up to version has ended. A check that a controller wrote nothing is
// meaningful only after this: without it, it also passes while the
// controller has merely not run yet.
func waitPass(t *testing.T, rt *runtime.Runtime, name string, version uint64) {
	t.Helper()
	require.Eventually(t, func() bool {
		ps, ok := rt.PassStatus(name)
		return ok && ps.Seen >= version
	}, 5*time.Second, time.Millisecond, "no pass of %s saw version %d", name, version)
}

// putConfig writes the cluster config and returns the resource's version.
func putConfig(t *testing.T, st *runtime.State, rev uint64, nodes ...config.Node) uint64 {
	t.Helper()
	r, err := st.Put(runtime.Resource{Type: TypeClusterConfig, ID: IDCluster, Spec: ClusterConfigSpec{Revision: rev, Config: &config.Config{Nodes: nodes}}})
	require.NoError(t, err)
	return r.Version
}

func specOf[T any](st *runtime.State, typ, id string) (T, bool) {
	var zero T
	r, err := st.Get(typ, id)
	if err != nil {
		return zero, false
	}
	v, ok := r.Spec.(T)
	return v, ok
}

func TestNetworkSpecFollowsThisNodesEntry(t *testing.T) {
	st := runtime.NewState()
	start(t, st, &NetworkSpec{NodeName: "n1"})
	putConfig(t, st, 3,
		config.Node{Name: "n0", Network: config.NodeNetwork{Addresses: []config.Address{{Link: "eth0", CIDR: "192.0.2.9/24"}}}},
		config.Node{Name: "n1", Network: config.NodeNetwork{
			Links:     []config.Link{{Name: "eth0", MTU: 1400}},
			Addresses: []config.Address{{Link: "eth0", CIDR: "192.0.2.1/24"}},
		}},
	)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		s, ok := specOf[NetworkSpecSpec](st, TypeNetworkSpec, IDDesired)
		require.True(ct, ok)
		assert.Equal(ct, uint64(3), s.Revision)
		require.Len(ct, s.Desired.Addresses, 1)
		assert.Equal(ct, netip.MustParsePrefix("192.0.2.1/24"), s.Desired.Addresses[0].Prefix, "this node's entry, not another's")
	}, 5*time.Second, time.Millisecond)
}

// TestConfigStatusWaitsForTheNetwork: a revision counts as applied only
// once the network converged for it without error.
func TestConfigStatusWaitsForTheNetwork(t *testing.T) {
	st := runtime.NewState()
	reported := make(chan uint64, 16)
	cs := &ConfigStatus{Report: func(rev uint64) { reported <- rev }}
	rt := start(t, st, cs)
	putConfig(t, st, 5)
	putNet := func(rev uint64, errText string) uint64 {
		r, err := st.Put(runtime.Resource{Type: TypeNetworkStatus, ID: IDStatus, Spec: NetworkStatusSpec{Revision: rev, Error: errText}})
		require.NoError(t, err)
		return r.Version
	}
	waitPass(t, rt, cs.Name(), putNet(4, ""))
	_, ok := specOf[ConfigStatusSpec](st, TypeConfigStatus, IDApplied)
	require.False(t, ok, "network still at the previous revision")

	waitPass(t, rt, cs.Name(), putNet(5, "add address: permission denied"))
	_, ok = specOf[ConfigStatusSpec](st, TypeConfigStatus, IDApplied)
	require.False(t, ok, "the network failed for this revision")
	require.Empty(t, reported, "nothing reported as applied")

	putNet(5, "")
	require.Equal(t, uint64(5), <-reported)
	s, ok := specOf[ConfigStatusSpec](st, TypeConfigStatus, IDApplied)
	require.True(t, ok)
	assert.Equal(t, uint64(5), s.Revision)

	// A newer config that has not converged keeps the applied revision.
	waitPass(t, rt, cs.Name(), putConfig(t, st, 6))
	s, ok = specOf[ConfigStatusSpec](st, TypeConfigStatus, IDApplied)
	require.True(t, ok, "the applied revision survives the pass that saw revision 6")
	assert.Equal(t, uint64(5), s.Revision)
	require.Empty(t, reported, "revision 6 not reported")
}

// TestNetworkApplyPlansInProcessMode: without kernel ownership the
// controller only reports what it would change, and owns nothing.
func TestNetworkApplyPlansInProcessMode(t *testing.T) {
	st := runtime.NewState()
	start(t, st, &NetworkApply{Apply: false})
	desired, err := network.DesiredFrom(config.NodeNetwork{
		Links:     []config.Link{{Name: "lo", MTU: 1280}},
		Addresses: []config.Address{{Link: "lo", CIDR: "192.0.2.77/32"}},
	})
	require.NoError(t, err)
	_, err = st.Put(runtime.Resource{Type: TypeNetworkSpec, ID: IDDesired, Spec: NetworkSpecSpec{Revision: 9, Desired: desired}})
	require.NoError(t, err)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		s, ok := specOf[NetworkStatusSpec](st, TypeNetworkStatus, IDStatus)
		require.True(ct, ok)
		assert.Equal(ct, "planned", s.Mode)
		assert.Equal(ct, uint64(9), s.Revision)
		assert.Empty(ct, s.Error)
		assert.Contains(ct, s.Changes, "add address 192.0.2.77/32 on lo")
		assert.Empty(ct, s.Managed.Addresses, "planning owns nothing")
	}, 5*time.Second, time.Millisecond)
}

// TestNetworkObservePublishesTheKernel: the status controller lists this
// namespace's links (lo exists everywhere) as resources.
func TestNetworkObservePublishesTheKernel(t *testing.T) {
	st := runtime.NewState()
	start(t, st, &NetworkObserve{})
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		l, ok := specOf[network.LinkStatus](st, TypeLinks, "lo")
		require.True(ct, ok)
		assert.Equal(ct, "lo", l.Name)
		found := false
		for _, a := range st.List(TypeAddresses) {
			if a.ID == "lo/127.0.0.1/8" {
				found = true
			}
		}
		assert.True(ct, found, "lo's address is published")
	}, 5*time.Second, time.Millisecond)
}
