package runtime_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cairn-project/cairn/node/runtime"
)

type addr struct {
	CIDR   string
	Routes []string
}

func TestStatePutGetListDelete(t *testing.T) {
	st := runtime.NewState()
	_, err := st.Get("Address", "eth0")
	require.ErrorIs(t, err, runtime.ErrNotFound)

	b := put(t, st, "Address", "eth1", addr{CIDR: "10.0.0.2/24"})
	a := put(t, st, "Address", "eth0", addr{CIDR: "10.0.0.1/24"})
	require.Greater(t, a.Version, b.Version, "one counter for the whole state")

	got, err := st.Get("Address", "eth0")
	require.NoError(t, err)
	require.Equal(t, a, got)

	list := st.List("Address")
	require.Len(t, list, 2)
	require.Equal(t, []string{"eth0", "eth1"}, []string{list[0].ID, list[1].ID}, "ordered by ID")
	require.Empty(t, st.List("Route"))

	upd := put(t, st, "Address", "eth0", addr{CIDR: "10.0.0.9/24"})
	require.Greater(t, upd.Version, a.Version)

	require.NoError(t, st.Delete("Address", "eth0", ""))
	require.ErrorIs(t, st.Delete("Address", "eth0", ""), runtime.ErrNotFound)
	again := put(t, st, "Address", "eth0", addr{CIDR: "10.0.0.1/24"})
	require.Greater(t, again.Version, upd.Version, "a recreated resource never repeats a version")
}

func TestStateRefuses(t *testing.T) {
	st := runtime.NewState()
	_, err := st.Put(runtime.Resource{Type: "Address"})
	require.ErrorIs(t, err, runtime.ErrInvalidResource)
	_, err = st.Put(runtime.Resource{Type: "Address", ID: "x", Spec: func() {}})
	require.ErrorIs(t, err, runtime.ErrInvalidResource, "spec must marshal to JSON")

	_, err = st.Put(runtime.Resource{Type: "Address", ID: "x", Spec: "a", Owner: "address-spec"})
	require.NoError(t, err)
	_, err = st.Put(runtime.Resource{Type: "Address", ID: "x", Spec: "b", Owner: "other"})
	require.ErrorIs(t, err, runtime.ErrOwnerConflict)
	require.ErrorIs(t, st.Delete("Address", "x", ""), runtime.ErrOwnerConflict)
}

func TestStateReturnsCopiesOfLabels(t *testing.T) {
	st := runtime.NewState()
	labels := map[string]string{"link": "eth0"}
	_, err := st.Put(runtime.Resource{Type: "Address", ID: "x", Labels: labels})
	require.NoError(t, err)
	labels["link"] = "changed"
	got, err := st.Get("Address", "x")
	require.NoError(t, err)
	got.Labels["link"] = "changed too"
	got, err = st.Get("Address", "x")
	require.NoError(t, err)
	require.Equal(t, "eth0", got.Labels["link"])
}

func TestWatchBootstrapsThenStreamsInOrder(t *testing.T) {
	st := runtime.NewState()
	put(t, st, "Address", "b", "2")
	put(t, st, "Address", "a", "1")
	put(t, st, "Route", "r", "ignored: other type")

	ch := watch(t, st, "Address", "")
	for _, id := range []string{"a", "b"} {
		ev := next(t, ch)
		require.Equal(t, runtime.EventCreated, ev.Type)
		require.Equal(t, id, ev.Resource.ID)
	}
	require.Equal(t, runtime.EventBootstrapped, next(t, ch).Type)

	c := put(t, st, "Address", "c", "3")
	u := put(t, st, "Address", "a", "1b")
	require.NoError(t, st.Delete("Address", "b", ""))
	put(t, st, "Route", "r", "still ignored")

	ev := next(t, ch)
	require.Equal(t, runtime.Event{Type: runtime.EventCreated, Resource: c}, ev)
	ev = next(t, ch)
	require.Equal(t, runtime.Event{Type: runtime.EventUpdated, Resource: u}, ev)
	ev = next(t, ch)
	require.Equal(t, runtime.EventDeleted, ev.Type)
	require.Equal(t, "b", ev.Resource.ID)
	require.Equal(t, "2", ev.Resource.Spec, "a deletion carries the last state")
}

func TestWatchOneID(t *testing.T) {
	st := runtime.NewState()
	ch := watch(t, st, "Address", "a")
	require.Equal(t, runtime.EventBootstrapped, next(t, ch).Type)
	put(t, st, "Address", "b", "x")
	a := put(t, st, "Address", "a", "y")
	require.Equal(t, runtime.Event{Type: runtime.EventCreated, Resource: a}, next(t, ch))
}

func TestNoOpWriteKeepsVersionAndEmitsNothing(t *testing.T) {
	st := runtime.NewState()
	first, err := st.Put(runtime.Resource{Type: "Address", ID: "a", Spec: addr{CIDR: "10.0.0.1/24", Routes: []string{"r1"}}, Labels: map[string]string{}})
	require.NoError(t, err)
	ch := watch(t, st, "Address", "")
	require.Equal(t, runtime.EventCreated, next(t, ch).Type)
	require.Equal(t, runtime.EventBootstrapped, next(t, ch).Type)

	// A deep-equal spec built afresh, and nil labels for empty ones.
	same, err := st.Put(runtime.Resource{Type: "Address", ID: "a", Spec: addr{CIDR: "10.0.0.1/24", Routes: []string{"r1"}}})
	require.NoError(t, err)
	require.Equal(t, first.Version, same.Version)

	// The next event is the later write to b: nothing was sent for a.
	b := put(t, st, "Address", "b", "x")
	require.Equal(t, runtime.Event{Type: runtime.EventCreated, Resource: b}, next(t, ch))

	labeled, err := st.Put(runtime.Resource{Type: "Address", ID: "a", Spec: first.Spec, Labels: map[string]string{"k": "v"}})
	require.NoError(t, err)
	require.Greater(t, labeled.Version, b.Version, "a label change is a change")
	require.Equal(t, runtime.EventUpdated, next(t, ch).Type)
}

func TestWatchClosesWhenContextEnds(t *testing.T) {
	st := runtime.NewState()
	put(t, st, "Address", "a", "1")
	ctx, cancel := context.WithCancel(context.Background())
	ch := st.Watch(ctx, "Address", "")
	cancel()
	n := 0
	for range ch { // ends only if the pump closes the channel
		n++
	}
	require.LessOrEqual(t, n, 2, "at most the bootstrap events")
}
